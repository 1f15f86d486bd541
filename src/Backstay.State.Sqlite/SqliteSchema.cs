namespace Backstay.State.Sqlite;

/// <summary>The tables of the state database; every statement is idempotent so each process may run it at start.</summary>
internal static class SqliteSchema
{
    /// <summary>Kept in <c>PRAGMA user_version</c>; raise it together with the last line of <see cref="Script"/>.</summary>
    public const int Version = 5;

    public const string Script = """
        CREATE TABLE IF NOT EXISTS services (
            name TEXT NOT NULL PRIMARY KEY,
            platform TEXT NOT NULL,
            stable_revision INTEGER NULL,
            desired_count INTEGER NOT NULL,
            spec_json TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );

        CREATE TABLE IF NOT EXISTS revisions (
            service TEXT NOT NULL,
            number INTEGER NOT NULL,
            image TEXT NOT NULL,
            digest TEXT NULL,
            env_json TEXT NOT NULL,
            port INTEGER NOT NULL,
            task_json TEXT NOT NULL,
            git_commit TEXT NULL,
            git_message TEXT NULL,
            git_author TEXT NULL,
            git_branch TEXT NULL,
            git_dirty INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            removed INTEGER NOT NULL,
            PRIMARY KEY (service, number)
        );

        CREATE TABLE IF NOT EXISTS deployments (
            id TEXT NOT NULL PRIMARY KEY,
            service TEXT NOT NULL,
            kind TEXT NOT NULL,
            trigger TEXT NOT NULL,
            strategy TEXT NOT NULL,
            stable_revision INTEGER NULL,
            target_revision INTEGER NOT NULL,
            state TEXT NOT NULL,
            active INTEGER NOT NULL,
            current_step INTEGER NOT NULL,
            step_phase TEXT NOT NULL,
            total_steps INTEGER NOT NULL,
            stable_count_before INTEGER NOT NULL,
            target_weight INTEGER NOT NULL,
            test_traffic_on_target INTEGER NOT NULL,
            rollback_of TEXT NULL,
            rolled_back_by TEXT NULL,
            reason TEXT NULL,
            plan_json TEXT NOT NULL,
            owner TEXT NULL,
            progress_json TEXT NULL,
            requested_by TEXT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            finished_at TEXT NULL,
            safe_at TEXT NULL,
            warm_until TEXT NULL,
            warm_ended_at TEXT NULL
        );

        CREATE INDEX IF NOT EXISTS deployments_by_service ON deployments (service, created_at);
        CREATE INDEX IF NOT EXISTS deployments_active ON deployments (active, service);
        CREATE INDEX IF NOT EXISTS deployments_warm ON deployments (service) WHERE warm_until IS NOT NULL AND warm_ended_at IS NULL;

        CREATE TABLE IF NOT EXISTS events (
            sequence INTEGER PRIMARY KEY AUTOINCREMENT,
            deployment_id TEXT NOT NULL,
            at TEXT NOT NULL,
            type TEXT NOT NULL,
            message TEXT NOT NULL,
            step INTEGER NULL,
            data_json TEXT NULL
        );

        CREATE INDEX IF NOT EXISTS events_by_deployment ON events (deployment_id, sequence);

        CREATE TABLE IF NOT EXISTS commands (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            deployment_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            hook_id TEXT NULL,
            requested_by TEXT NULL,
            at TEXT NOT NULL
        );

        CREATE INDEX IF NOT EXISTS commands_by_deployment ON commands (deployment_id, id);

        CREATE TABLE IF NOT EXISTS journal (
            sequence INTEGER PRIMARY KEY AUTOINCREMENT,
            deployment_id TEXT NOT NULL,
            step INTEGER NOT NULL,
            phase TEXT NOT NULL,
            action TEXT NOT NULL,
            detail_json TEXT NULL,
            at TEXT NOT NULL
        );

        CREATE INDEX IF NOT EXISTS journal_by_deployment ON journal (deployment_id, sequence);

        CREATE TABLE IF NOT EXISTS leases (
            key TEXT NOT NULL PRIMARY KEY,
            owner TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            generation INTEGER NOT NULL DEFAULT 0
        );

        CREATE TABLE IF NOT EXISTS hook_runs (
            id TEXT NOT NULL PRIMARY KEY,
            deployment_id TEXT NOT NULL,
            json TEXT NOT NULL
        );

        CREATE INDEX IF NOT EXISTS hook_runs_by_deployment ON hook_runs (deployment_id);

        CREATE TABLE IF NOT EXISTS observations (
            service TEXT NOT NULL PRIMARY KEY,
            json TEXT NOT NULL
        );

        CREATE TABLE IF NOT EXISTS series (
            deployment_id TEXT NOT NULL,
            at TEXT NOT NULL,
            revision INTEGER NOT NULL,
            weight INTEGER NOT NULL,
            requests INTEGER NULL,
            error_rate REAL NULL,
            p50_ms REAL NULL,
            p90_ms REAL NULL,
            p95_ms REAL NULL,
            p99_ms REAL NULL
        );

        CREATE INDEX IF NOT EXISTS series_by_deployment ON series (deployment_id, at);

        CREATE TABLE IF NOT EXISTS releases (
            id TEXT NOT NULL PRIMARY KEY,
            active INTEGER NOT NULL,
            version INTEGER NOT NULL,
            json TEXT NOT NULL
        );

        CREATE INDEX IF NOT EXISTS releases_active ON releases (active);

        PRAGMA user_version = 5;
        """;

    /// <summary>Brings a version 1 database up to this one (run before <see cref="Script"/>, which cannot add columns).</summary>
    public const string FromVersion1 = """
        ALTER TABLE leases ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
        """;

    /// <summary>Brings a version 1, 2 or 3 database up to this one (run after <see cref="FromVersion1"/> for a version 1 one): the warm window of blue/green.</summary>
    public const string FromVersion3 = """
        ALTER TABLE deployments ADD COLUMN warm_until TEXT NULL;
        ALTER TABLE deployments ADD COLUMN warm_ended_at TEXT NULL;
        """;
}
