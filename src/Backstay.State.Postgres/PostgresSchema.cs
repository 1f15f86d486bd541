namespace Backstay.State.Postgres;

/// <summary>The tables of the state database; every statement is idempotent so each replica may run it at start.</summary>
/// <remarks>
/// Timestamps are bigint .NET UTC ticks (100 ns since 0001-01-01), not timestamptz: timestamptz keeps only
/// microseconds, and the store must give back every tick it was given, as the SQLite store does.
/// </remarks>
internal static class PostgresSchema
{
    /// <summary>Kept in the one row of <c>schema_version</c>; raise it together with <see cref="Script"/>.</summary>
    public const int Version = 5;

    /// <summary>Allows one active deployment per service besides those RollingBack, which their rollback deployment finishes.</summary>
    public const string OneActiveDeploymentIndex = "deployments_one_active_per_service";

    public const string DeploymentsPrimaryKey = "deployments_pkey";

    public const string VersionTable = """
        CREATE TABLE IF NOT EXISTS schema_version (
            id boolean NOT NULL PRIMARY KEY DEFAULT true CHECK (id),
            version integer NOT NULL
        );
        """;

    public const string Script = $"""
        CREATE TABLE IF NOT EXISTS services (
            name text NOT NULL PRIMARY KEY,
            platform text NOT NULL,
            stable_revision integer NULL,
            desired_count integer NOT NULL,
            spec_json text NOT NULL,
            created_at_ticks bigint NOT NULL,
            updated_at_ticks bigint NOT NULL
        );

        CREATE TABLE IF NOT EXISTS revisions (
            service text NOT NULL,
            number integer NOT NULL,
            image text NOT NULL,
            digest text NULL,
            env_json text NOT NULL,
            port integer NOT NULL,
            task_json text NOT NULL,
            git_commit text NULL,
            git_message text NULL,
            git_author text NULL,
            git_branch text NULL,
            git_dirty boolean NOT NULL,
            created_at_ticks bigint NOT NULL,
            removed boolean NOT NULL,
            PRIMARY KEY (service, number)
        );

        CREATE TABLE IF NOT EXISTS deployments (
            id text NOT NULL,
            seq bigint GENERATED ALWAYS AS IDENTITY,
            service text NOT NULL,
            kind text NOT NULL,
            trigger text NOT NULL,
            strategy text NOT NULL,
            stable_revision integer NULL,
            target_revision integer NOT NULL,
            state text NOT NULL,
            active boolean NOT NULL,
            current_step integer NOT NULL,
            step_phase text NOT NULL,
            total_steps integer NOT NULL,
            stable_count_before integer NOT NULL,
            target_weight integer NOT NULL,
            test_traffic_on_target boolean NOT NULL,
            rollback_of text NULL,
            rolled_back_by text NULL,
            reason text NULL,
            plan_json text NOT NULL,
            owner text NULL,
            progress_json text NULL,
            requested_by text NULL,
            created_at_ticks bigint NOT NULL,
            updated_at_ticks bigint NOT NULL,
            finished_at_ticks bigint NULL,
            safe_at_ticks bigint NULL,
            CONSTRAINT {DeploymentsPrimaryKey} PRIMARY KEY (id)
        );

        ALTER TABLE deployments ADD COLUMN IF NOT EXISTS warm_until_ticks bigint NULL;
        ALTER TABLE deployments ADD COLUMN IF NOT EXISTS warm_ended_at_ticks bigint NULL;

        CREATE INDEX IF NOT EXISTS deployments_by_service ON deployments (service, created_at_ticks, seq);
        CREATE INDEX IF NOT EXISTS deployments_warm ON deployments (service) WHERE warm_until_ticks IS NOT NULL AND warm_ended_at_ticks IS NULL;
        CREATE INDEX IF NOT EXISTS deployments_active ON deployments (created_at_ticks, seq) WHERE active;
        CREATE UNIQUE INDEX IF NOT EXISTS {OneActiveDeploymentIndex} ON deployments (service)
            WHERE active AND state <> 'RollingBack';

        CREATE TABLE IF NOT EXISTS events (
            sequence bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            deployment_id text NOT NULL,
            at_ticks bigint NOT NULL,
            type text NOT NULL,
            message text NOT NULL,
            step integer NULL,
            data_json text NULL
        );

        CREATE INDEX IF NOT EXISTS events_by_deployment ON events (deployment_id, sequence);

        CREATE TABLE IF NOT EXISTS commands (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            deployment_id text NOT NULL,
            kind text NOT NULL,
            hook_id text NULL,
            requested_by text NULL,
            at_ticks bigint NOT NULL
        );

        CREATE INDEX IF NOT EXISTS commands_by_deployment ON commands (deployment_id, id);

        CREATE TABLE IF NOT EXISTS journal (
            sequence bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            deployment_id text NOT NULL,
            step integer NOT NULL,
            phase text NOT NULL,
            action text NOT NULL,
            detail_json text NULL,
            at_ticks bigint NOT NULL
        );

        CREATE INDEX IF NOT EXISTS journal_by_deployment ON journal (deployment_id, sequence);

        CREATE TABLE IF NOT EXISTS leases (
            key text NOT NULL PRIMARY KEY,
            owner text NOT NULL,
            expires_at_ticks bigint NOT NULL
        );

        ALTER TABLE leases ADD COLUMN IF NOT EXISTS generation bigint NOT NULL DEFAULT 0;

        CREATE TABLE IF NOT EXISTS hook_runs (
            seq bigint GENERATED ALWAYS AS IDENTITY,
            id text NOT NULL PRIMARY KEY,
            deployment_id text NOT NULL,
            json text NOT NULL
        );

        CREATE INDEX IF NOT EXISTS hook_runs_by_deployment ON hook_runs (deployment_id, seq);

        CREATE TABLE IF NOT EXISTS observations (
            service text NOT NULL PRIMARY KEY,
            json text NOT NULL
        );

        CREATE TABLE IF NOT EXISTS series (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            deployment_id text NOT NULL,
            at_ticks bigint NOT NULL,
            revision integer NOT NULL,
            weight integer NOT NULL,
            requests bigint NULL,
            error_rate double precision NULL,
            p50_ms double precision NULL,
            p90_ms double precision NULL,
            p95_ms double precision NULL,
            p99_ms double precision NULL
        );

        CREATE INDEX IF NOT EXISTS series_by_deployment ON series (deployment_id, at_ticks, seq);

        CREATE TABLE IF NOT EXISTS releases (
            seq bigint GENERATED ALWAYS AS IDENTITY,
            id text NOT NULL PRIMARY KEY,
            active integer NOT NULL,
            version bigint NOT NULL,
            json text NOT NULL
        );

        CREATE INDEX IF NOT EXISTS releases_active ON releases (active, seq);
        """;
}
