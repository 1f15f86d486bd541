using System.Data;

namespace Backstay.State.Relational;

/// <summary>A statement parameter, written <c>@Name</c> in the SQL text.</summary>
/// <remarks>The type goes with the value so that PostgreSQL can bind a null; SQLite binds by the value itself.</remarks>
public readonly record struct SqlArg(string Name, DbType Type, object? Value)
{
    public static SqlArg Text(string name, string? value) => new(name, DbType.String, value);

    public static SqlArg Int(string name, int? value) => new(name, DbType.Int32, value);

    public static SqlArg Long(string name, long? value) => new(name, DbType.Int64, value);

    public static SqlArg Double(string name, double? value) => new(name, DbType.Double, value);

    public static SqlArg Bool(string name, bool value) => new(name, DbType.Boolean, value);
}
