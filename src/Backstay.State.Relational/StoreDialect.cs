using System.Data.Common;

namespace Backstay.State.Relational;

/// <summary>Where the SQL of <see cref="RelationalStateStore"/> differs between databases: timestamps and row order.</summary>
public abstract class StoreDialect
{
    /// <summary>The column that keeps the timestamp called <paramref name="name"/> (created_at, at, expires_at...).</summary>
    public abstract string TimeColumn(string name);

    /// <summary>A timestamp as the store keeps it, every tick of it; null stays null.</summary>
    public abstract SqlArg Time(string name, DateTimeOffset? value);

    /// <summary>A timestamp written by <see cref="Time"/>, back as UTC.</summary>
    public abstract DateTimeOffset ReadTime(DbDataReader reader, int ordinal);

    /// <summary>The column that numbers a table's rows as they were inserted: the tie-break between equal timestamps.</summary>
    public abstract string InsertionOrder { get; }

    /// <summary>An ORDER BY term that sorts a text column by its characters' code points, whatever the database's collation.</summary>
    public abstract string OrdinalOrder(string column);
}
