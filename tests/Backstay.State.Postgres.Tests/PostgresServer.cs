using System.Diagnostics;
using System.Globalization;
using Npgsql;

namespace Backstay.State.Postgres.Tests;

/// <summary>
/// The PostgreSQL server of a test run: the one named by BACKSTAY_TEST_POSTGRES, or else a private cluster that
/// scripts/postgres-test-server installs and starts, and that is stopped and deleted when the run ends.
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    public const string EnvironmentVariable = "BACKSTAY_TEST_POSTGRES";

    private const string Script = "scripts/postgres-test-server";

    // Long enough for apt-get to install PostgreSQL on a fresh machine.
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(5);

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private string? _clusterDirectory;
    private NpgsqlDataSource? _admin;

    /// <summary>Connects to the server's maintenance database, where the tests create and drop theirs.</summary>
    public string ConnectionString { get; private set; } = "";

    public async Task InitializeAsync()
    {
        var configured = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(configured))
        {
            ConnectionString = configured;
        }
        else
        {
            _clusterDirectory = Path.Combine(Path.GetTempPath(), "backstay-postgres-tests", Guid.NewGuid().ToString("N"));
            var output = await RunScriptAsync(
                StartTimeout, "start", _clusterDirectory, "--owner", Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
            ConnectionString = output.Trim().Split('\n')[^1];
        }

        _admin = NpgsqlDataSource.Create(ConnectionString);
        try
        {
            using var timeout = new CancellationTokenSource(Timeout);
            await using var connection = await _admin.OpenConnectionAsync(timeout.Token);
        }
        catch (Exception ex) when (ex is NpgsqlException or OperationCanceledException)
        {
            throw new InvalidOperationException(
                $"The tests cannot connect to PostgreSQL at '{WithoutPassword(ConnectionString)}' "
                + $"({(configured is null ? $"started by {Script}" : $"from {EnvironmentVariable}")}): {ex.Message}",
                ex);
        }
    }

    /// <summary>Creates an empty database with a random name and returns a connection string for it.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = $"backstay_test_{Guid.NewGuid():N}";
        await AdminAsync($"CREATE DATABASE \"{name}\";");
        return new NpgsqlConnectionStringBuilder(ConnectionString) { Database = name }.ConnectionString;
    }

    /// <summary>Drops the database of a connection string from <see cref="CreateDatabaseAsync"/>, closing its connections.</summary>
    public async Task DropDatabaseAsync(string connectionString)
    {
        var name = new NpgsqlConnectionStringBuilder(connectionString).Database;
        await AdminAsync($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE);");
    }

    public async Task DisposeAsync()
    {
        if (_admin is not null)
        {
            await _admin.DisposeAsync();
        }

        if (_clusterDirectory is not null)
        {
            await RunScriptAsync(Timeout, "stop", _clusterDirectory);
        }
    }

    private static string WithoutPassword(string connectionString) =>
        new NpgsqlConnectionStringBuilder(connectionString) { Password = null }.ConnectionString;

    private async Task AdminAsync(string sql)
    {
        using var timeout = new CancellationTokenSource(Timeout);
        await using var command = _admin!.CreateCommand(sql);
        await command.ExecuteNonQueryAsync(timeout.Token);
    }

    private static async Task<string> RunScriptAsync(TimeSpan timeout, params string[] arguments)
    {
        var script = FindScript();
        var start = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(script);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)
            ?? throw new InvalidOperationException($"Could not run {script}.");
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException(
                $"{Script} {string.Join(' ', arguments)} did not finish within {timeout}: {await errors}");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"The PostgreSQL tests need a server, and `{Script} {string.Join(' ', arguments)}` failed "
                + $"(exit code {process.ExitCode}). Set {EnvironmentVariable} to the connection string of a server "
                + $"the tests may create databases on, or fix what the script says:{Environment.NewLine}{await errors}");
        }

        return await output;
    }

    private static string FindScript()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, Script);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException(
            $"{Script} was not found above {AppContext.BaseDirectory}; set {EnvironmentVariable} to a server's connection string.");
    }
}

/// <summary>Every class that needs the server: they share one per test run and, by xunit's rule for a collection, run one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresServer>
{
    public const string Name = "PostgreSQL";
}
