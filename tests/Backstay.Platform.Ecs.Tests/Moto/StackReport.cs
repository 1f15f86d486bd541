using System.Diagnostics;

namespace Backstay.Platform.Ecs.Tests.Moto;

/// <summary>The managed stacks of a hung process, from `dotnet-stack report` when the tool is installed, for a test's failure message.</summary>
public static class StackReport
{
    public static async Task<string> OfAsync(int pid)
    {
        var tool = Path.Combine(Environment.GetEnvironmentVariable("HOME") ?? "/root", ".dotnet", "tools", "dotnet-stack");
        if (!File.Exists(tool))
        {
            return "(install dotnet-stack to see them: dotnet tool install -g dotnet-stack)";
        }

        var info = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add("report");
        info.ArgumentList.Add("-p");
        info.ArgumentList.Add(pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var report = Process.Start(info)!;
        var output = report.StandardOutput.ReadToEndAsync();
        var errors = report.StandardError.ReadToEndAsync();
        try
        {
            await report.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            report.Kill();
            return "(dotnet-stack did not answer within 30 s)";
        }

        return await output + await errors;
    }
}
