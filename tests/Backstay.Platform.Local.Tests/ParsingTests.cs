using Backstay.Core.Ports;
using System.Text;

namespace Backstay.Platform.Local.Tests;

public sealed class ParsingTests
{
    [Fact]
    public void TryParse_RawLine_ReadsBackendSlotStatusAndServerTime()
    {
        RequestLine.TryParse("bsty1|hello_prod|s12|500|37|41\n"u8, out var line).ShouldBeTrue();

        line.ShouldBe(new RequestLine("hello_prod", 12, 500, 37));
        line.IsError.ShouldBeTrue();
    }

    [Fact]
    public void TryParse_AcceptDateAndActiveTime_ServedAtIsHaproxysOwnTimeOfTheEnd()
    {
        RequestLine.TryParse("bsty1|hello_prod|s12|500|37|41|1764921600|250\n"u8, out var line).ShouldBeTrue();

        line.Slot.ShouldBe(12);
        line.LatencyMs.ShouldBe(37);
        line.ServedAt.ShouldBe(DateTimeOffset.FromUnixTimeSeconds(1764921600).AddMilliseconds(250 + 41));
    }

    [Fact]
    public void TryParse_LineOfTheFormatBefore_HasNoServedAt()
    {
        RequestLine.TryParse("bsty1|hello_prod|s12|200|3|5"u8, out var line).ShouldBeTrue();

        line.ServedAt.ShouldBeNull();
    }

    [Fact]
    public async Task Receiver_LineForASlotBeyondTheBackendsOwn_IsUnattributedAndTheReceiverGoesOn()
    {
        var events = new List<PlatformEvent>();
        using var receiver = new RequestLogReceiver(0, TimeProvider.System, e => { lock (events) { events.Add(e); } });
        receiver.Attribute(new Dictionary<string, SlotTarget?[]> { ["web_prod"] = [null, new SlotTarget("web", 1, Listener.Production), null] });
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var receiving = receiver.ReceiveAsync(cancel.Token);
        using var sender = new System.Net.Sockets.UdpClient();
        var port = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, receiver.Port);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var stamp = $"{now / 1000}|{now % 1000:000}";

        await sender.SendAsync(Encoding.ASCII.GetBytes($"bsty1|web_prod|s12|200|1|1|{stamp}"), port);
        while (receiver.Unattributed("web_prod") == 0 && !cancel.IsCancellationRequested)
        {
            await Task.Delay(20);
        }

        await sender.SendAsync(Encoding.ASCII.GetBytes($"bsty1|web_prod|s1|200|1|1|{stamp}"), port);
        while (receiver.Metrics("web", 1, TimeSpan.FromMinutes(1), null).Requests == 0 && !cancel.IsCancellationRequested)
        {
            await Task.Delay(20);
        }

        receiver.Unattributed("web_prod").ShouldBe(1);
        receiver.Metrics("web", 1, TimeSpan.FromMinutes(1), null).Requests.ShouldBe(1);
        lock (events)
        {
            events.ShouldBeEmpty("the receive loop is still running");
        }

        await cancel.CancelAsync();
        await receiving;
    }

    [Fact]
    public void TryParse_SyslogHeader_FindsTheMessage()
    {
        var datagram = Encoding.ASCII.GetBytes("<134>Nov 21 22:52:00 haproxy[123]: bsty1|my_svc_test|s1|200|3|5");

        RequestLine.TryParse(datagram, out var line).ShouldBeTrue();

        line.ShouldBe(new RequestLine("my_svc_test", 1, 200, 3));
        line.IsError.ShouldBeFalse();
    }

    [Fact]
    public void TryParse_NoServer_IsAnErrorTimedByActiveTime()
    {
        RequestLine.TryParse("bsty1|hello_prod|<NOSRV>|503|-1|2"u8, out var line).ShouldBeTrue();

        line.Slot.ShouldBe(0);
        line.LatencyMs.ShouldBe(2);
        line.IsError.ShouldBeTrue();
    }

    [Fact]
    public void TryParse_ClientAbort_IsAnError()
    {
        RequestLine.TryParse("bsty1|hello_prod|s2|-1|-1|1000"u8, out var line).ShouldBeTrue();

        line.IsError.ShouldBeTrue();
    }

    [Theory]
    [InlineData("Server hello_prod/s1 is UP/READY (leaving forced maintenance).")]
    [InlineData("bsty1|hello_prod|s1|abc|1|1")]
    [InlineData("bsty1|hello_prod|s1")]
    [InlineData("")]
    public void TryParse_OtherMessages_AreIgnored(string text)
    {
        RequestLine.TryParse(Encoding.ASCII.GetBytes(text), out _).ShouldBeFalse();
    }

    [Fact]
    public void Summarize_WindowAndSince_CountOnlyRequestsInBoth()
    {
        var buffer = new RequestBuffer();
        var start = new DateTimeOffset(2030, 1, 1, 12, 0, 0, TimeSpan.Zero);
        for (var i = 0; i < 100; i++)
        {
            buffer.Add(start.AddSeconds(i), i % 10 == 0 ? 500 : 200, i, i % 10 == 0);
        }

        var now = start.AddSeconds(99);
        var lastMinute = buffer.Summarize(1, TimeSpan.FromSeconds(59), now, since: null);
        var sinceSeventy = buffer.Summarize(1, TimeSpan.FromMinutes(5), now, since: start.AddSeconds(70));

        lastMinute.Requests.ShouldBe(60);
        lastMinute.Errors.ShouldBe(6);
        lastMinute.FirstErrorAt.ShouldBe(start.AddSeconds(40));
        lastMinute.LatencyP50Ms.ShouldBe(69);
        lastMinute.LatencyP99Ms.ShouldBe(99);
        sinceSeventy.Requests.ShouldBe(30);
        sinceSeventy.Errors.ShouldBe(3);
    }

    [Fact]
    public void Add_OlderThanRetention_IsDropped()
    {
        var buffer = new RequestBuffer();
        var start = new DateTimeOffset(2030, 1, 1, 12, 0, 0, TimeSpan.Zero);
        buffer.Add(start, 200, 1, false);

        buffer.Add(start + RequestBuffer.Retention + TimeSpan.FromSeconds(1), 200, 1, false);

        buffer.Summarize(1, TimeSpan.FromDays(1), start.AddDays(1), null).Requests.ShouldBe(1);
    }

    [Theory]
    [InlineData("Name: HAProxy\nVersion: 2.6.12\nPid: 4242\nFailedResolutions: 0\n\n\nNo such backend.\n\n", 4242, "\nNo such backend.\n\n")]
    [InlineData("Name: HAProxy\nPid: 17\n\n1\n# be_id be_name\n", 17, "1\n# be_id be_name\n")]
    [InlineData("Unknown command.\n", null, "")]
    public void SplitInfo_AnswerBehindShowInfo_NamesThePidAndKeepsOnlyTheCommandsAnswer(string answer, int? pid, string rest)
    {
        // The info block's own lines (FailedResolutions) must never be read as an error of the command behind it.
        HaproxyClient.SplitInfo(answer).ShouldBe((pid, rest));
    }

    [Fact]
    public void ParseServersState_ShowServersStateOutput_ReadsSlotWeightPortAndMaintenance()
    {
        const string Text = """
            1
            # be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
            3 hello_prod 1 s1 127.0.0.1 2 4 10 0 0 1 0 1 6 0 0 0 - 18111 - 0 0 - - 0
            3 hello_prod 2 s2 127.0.0.1 0 5 0 0 1 1 0 0 14 0 0 0 - 1 - 0 0 - - 0
            """;

        var rows = HaproxyClient.ParseServersState(Text);

        rows.Count.ShouldBe(2);
        rows[0].ShouldBe(new ServerStateRow("hello_prod", "s1", 2, 4, 10, 18111));
        rows[0].Slot.ShouldBe(1);
        rows[0].InMaintenance.ShouldBeFalse();
        rows[1].InMaintenance.ShouldBeTrue();
    }

    [Fact]
    public void ParseStat_CommandWithSpacesAndParentheses_ReadsTheFieldsAfterIt()
    {
        const string Text = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10 18446744073709551615";

        var stat = ProcFs.ParseStat(4242, Text);

        stat.ShouldNotBeNull();
        stat.Command.ShouldBe("my (odd) name");
        stat.State.ShouldBe('S');
        stat.ProcessGroup.ShouldBe(4242);
        stat.Session.ShouldBe(4242);
        stat.StartTicks.ShouldBe(987654);
    }

    [Fact]
    public void ReadStat_ThisProcess_IsRunningWithItsStartTime()
    {
        var stat = ProcFs.ReadStat(Environment.ProcessId);

        stat.ShouldNotBeNull();
        ProcFs.IsRunning(Environment.ProcessId, stat.StartTicks).ShouldBeTrue();
        ProcFs.IsRunning(Environment.ProcessId, stat.StartTicks + 1).ShouldBeFalse();
    }

    [Theory]
    [InlineData("127.0.0.1:8080", "127.0.0.1:8080")]
    [InlineData("localhost:9000", "127.0.0.1:9000")]
    [InlineData("0.0.0.0:80", "0.0.0.0:80")]
    [InlineData("[::1]:8080", "::1:8080")]
    public void Parse_ValidListener_GivesHaproxyBindText(string text, string bind)
    {
        ListenerAddress.Parse("hello", "production", text).BindText.ShouldBe(bind);
    }

    [Theory]
    [InlineData("8080")]
    [InlineData("127.0.0.1:")]
    [InlineData("127.0.0.1:http")]
    [InlineData("127.0.0.1:70000")]
    [InlineData("example.com:80")]
    public void Parse_InvalidListener_SaysWhatToWrite(string text)
    {
        var error = Should.Throw<PlatformException>(() => ListenerAddress.Parse("hello", "production", text));

        error.Message.ShouldContain(text);
        error.Message.ShouldContain("127.0.0.1:8080");
    }

    [Theory]
    [InlineData("HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/", 2, 6)]
    [InlineData("HA-Proxy version 2.4.22-f8e3218 2023/02/14", 2, 4)]
    [InlineData("HA-Proxy version 1.8.19 2019/02/11", 1, 8)]
    public void ParseVersion_VersionBanner_ReadsMajorAndMinor(string banner, int major, int minor)
    {
        HaproxyExecutable.ParseVersion(banner).ShouldBe(new Version(major, minor));
    }

    [Fact]
    public async Task Render_TwoServices_IsAcceptedByHaproxy()
    {
        var directory = Path.Combine(Path.GetTempPath(), "bsty-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(directory);
        try
        {
            var config = HaproxyConfig.Render(
                Path.Combine(directory, "haproxy.sock"),
                Path.Combine(directory, "haproxy.state"),
                51400,
                [
                    new HaproxyConfig.ServiceConfig("hello", "127.0.0.1:18080", "127.0.0.1:18081", "/healthz", TimeSpan.FromMilliseconds(500)),
                    new HaproxyConfig.ServiceConfig("other-svc", "127.0.0.1:18082", null, "/ready?deep=1", TimeSpan.FromSeconds(2)),
                ]);
            var path = Path.Combine(directory, "haproxy.cfg");
            await File.WriteAllTextAsync(path, config);
            using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("haproxy", ["-c", "-f", path])
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                Environment = { ["PATH"] = Environment.GetEnvironmentVariable("PATH") + ":/usr/sbin" },
            })!;
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync().Within(30);

            process.ExitCode.ShouldBe(0, customMessage: await errors.Within(5));
            (await output.Within(5)).ShouldContain("Configuration file is valid");
            config.ShouldContain("backend hello_test");
            config.ShouldNotContain("backend other-svc_test");
            config.ShouldContain("retry-on conn-failure empty-response response-timeout 503");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}

public sealed class SlotSizingTests
{
    [Theory]
    [InlineData(1, 5)]
    [InlineData(3, 11)]
    [InlineData(30, 64)]
    public void SlotsFor_Instances_RoomForThreeRevisionsPlusTwoUpToTheMost(int instances, int slots) =>
        HaproxyConfig.SlotsFor(instances).ShouldBe(slots);

    [Fact]
    public void Render_ServiceOfOneInstance_HasABackendOfFiveServerSlots()
    {
        var config = HaproxyConfig.Render("/tmp/s.sock", "/tmp/state", 5140,
            [new HaproxyConfig.ServiceConfig("web", "127.0.0.1:8080", null, "/healthz", TimeSpan.FromSeconds(1), HaproxyConfig.SlotsFor(1))]);

        config.ShouldContain("server-template s 1-5 ");
    }
}
