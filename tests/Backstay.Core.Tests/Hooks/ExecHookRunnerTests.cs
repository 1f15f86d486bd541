using System.Diagnostics;
using Backstay.Core.Hooks;
using Backstay.Core.Spec;
using Backstay.Core.Tests.Engine;

namespace Backstay.Core.Tests.Hooks;

public sealed class ExecHookRunnerTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    private static readonly HookContext Context = new()
    {
        DeploymentId = "d-ABCDEFGHJ",
        HookId = "h-KLMNPQRST",
        Service = "web",
        Stage = Stages.AfterAllowTestTraffic,
        StableRevision = 4,
        TargetRevision = 5,
        Rollback = false,
        TestListenerUrl = "http://127.0.0.1:8081/",
    };

    private readonly HookDirectory _directory = new();

    [Fact]
    public async Task RunAsync_ExitZero_PassedWithItsOutput()
    {
        var outcome = await RunAsync("echo checked 42 targets; echo warning >&2; exit 0");

        outcome.Passed.ShouldBeTrue(outcome.Output);
        outcome.TimedOut.ShouldBeFalse();
        outcome.Output.ShouldContain("checked 42 targets");
        outcome.Output.ShouldContain("warning");
    }

    [Fact]
    public async Task RunAsync_ExitThree_FailedNamingTheExitCode()
    {
        var outcome = await RunAsync("echo smoke test failed; exit 3");

        outcome.Passed.ShouldBeFalse();
        outcome.TimedOut.ShouldBeFalse();
        outcome.Output.ShouldContain("smoke test failed");
        outcome.Output.ShouldContain("[exit code 3]");
    }

    [Fact]
    public async Task RunAsync_SleepsBeyondItsTimeout_TimedOutAndProcessKilled()
    {
        var outcome = await RunAsync("echo $$ > shell.pid; echo begun; sleep 30", TimeSpan.FromMilliseconds(500));

        outcome.Passed.ShouldBeFalse();
        outcome.TimedOut.ShouldBeTrue();
        outcome.Output.ShouldContain("begun");
        outcome.Output.ShouldContain("timed out");
        var pid = int.Parse(_directory.Lines("shell.pid").Single(), System.Globalization.CultureInfo.InvariantCulture);
        IsRunning(pid).ShouldBeFalse("a hook that timed out is killed");
    }

    [Fact]
    public async Task RunAsync_Context_InEnvironmentAndRunsInTheWorkingDirectory()
    {
        var outcome = await RunAsync("env > env.txt; pwd > pwd.txt");

        outcome.Passed.ShouldBeTrue(outcome.Output);
        var env = _directory.Lines("env.txt");
        env.ShouldContain("BACKSTAY_DEPLOYMENT_ID=d-ABCDEFGHJ");
        env.ShouldContain("BACKSTAY_HOOK_ID=h-KLMNPQRST");
        env.ShouldContain("BACKSTAY_SERVICE=web");
        env.ShouldContain("BACKSTAY_STAGE=AfterAllowTestTraffic");
        env.ShouldContain("BACKSTAY_STABLE_REVISION=4");
        env.ShouldContain("BACKSTAY_TARGET_REVISION=5");
        env.ShouldContain("BACKSTAY_ROLLBACK=false");
        env.ShouldContain("BACKSTAY_TEST_URL=http://127.0.0.1:8081/");
        Path.GetFullPath(_directory.Lines("pwd.txt").Single()).ShouldBe(Path.GetFullPath(_directory.Path));
    }

    [Fact]
    public async Task RunAsync_CommandDoesNotExist_FailedSayingItCouldNotStart()
    {
        var hook = new ExecHookSpec { Command = ["/nonexistent/check-it"], Timeout = TimeSpan.FromSeconds(5) };

        var outcome = await ExecHookRunner.RunAsync(hook, Context, _directory.Path, CancellationToken.None).WaitAsync(Limit);

        outcome.Passed.ShouldBeFalse();
        outcome.TimedOut.ShouldBeFalse();
        outcome.Output.ShouldContain("could not start '/nonexistent/check-it'");
    }

    [Fact]
    public async Task RunAsync_ExitsWhileABackgroundChildHoldsItsOutput_EndsWithinItsTimeout()
    {
        // A hook that starts a helper in the background (nohup server &) exits at once, but the child keeps the
        // output pipe open: the hook must still end by its own timeout, not when the child happens to exit.
        var hook = new ExecHookSpec { Command = ["/bin/sh", "-c", "sleep 8 & echo $! > child.pid; echo started"], Timeout = TimeSpan.FromSeconds(1) };
        try
        {
            var run = ExecHookRunner.RunAsync(hook, Context, _directory.Path, CancellationToken.None);

            var outcome = await run.WaitAsync(TimeSpan.FromSeconds(4));

            outcome.Passed.ShouldBeTrue(outcome.Output);
        }
        finally
        {
            foreach (var line in _directory.Lines("child.pid"))
            {
                Kill(int.Parse(line, System.Globalization.CultureInfo.InvariantCulture));
            }
        }
    }

    public void Dispose() => _directory.Dispose();

    private Task<HookOutcome> RunAsync(string script, TimeSpan? timeout = null) =>
        ExecHookRunner.RunAsync(HookSpecs.Exec(script, timeout).Exec!, Context, _directory.Path, CancellationToken.None).WaitAsync(Limit);

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static void Kill(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            process.Kill();
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
        {
        }
    }
}
