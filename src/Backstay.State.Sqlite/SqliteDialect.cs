using System.Data.Common;
using System.Globalization;
using Backstay.State.Relational;

namespace Backstay.State.Sqlite;

/// <summary>
/// Timestamps as UTC round-trip text ("O"), which keeps every tick and sorts in time order; rows in rowid order.
/// </summary>
internal sealed class SqliteDialect : StoreDialect
{
    public static SqliteDialect Instance { get; } = new();

    public override string InsertionOrder => "rowid";

    public override string TimeColumn(string name) => name;

    public override SqlArg Time(string name, DateTimeOffset? value) =>
        SqlArg.Text(name, value?.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture));

    public override DateTimeOffset ReadTime(DbDataReader reader, int ordinal) =>
        DateTimeOffset.ParseExact(reader.GetString(ordinal), "O", CultureInfo.InvariantCulture);

    // SQLite's default collation, BINARY, already compares code points.
    public override string OrdinalOrder(string column) => column;
}
