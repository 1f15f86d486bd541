using System.Data.Common;
using Backstay.State.Relational;

namespace Backstay.State.Postgres;

/// <summary>
/// Timestamps as bigint UTC ticks in columns named *_ticks (see <see cref="PostgresSchema"/> for why not timestamptz);
/// rows in the order of their identity column seq.
/// </summary>
internal sealed class PostgresDialect : StoreDialect
{
    public static PostgresDialect Instance { get; } = new();

    public override string InsertionOrder => "seq";

    public override string TimeColumn(string name) => name + "_ticks";

    public override SqlArg Time(string name, DateTimeOffset? value) => SqlArg.Long(name, value?.UtcTicks);

    public override DateTimeOffset ReadTime(DbDataReader reader, int ordinal) => new(reader.GetInt64(ordinal), TimeSpan.Zero);

    // The database's collation may be a locale's, which orders "B" next to "b".
    public override string OrdinalOrder(string column) => column + " COLLATE \"C\"";
}
