namespace Backstay.Bench;

/// <summary>`backstay-bench run [--quick|--full|--footprint]` measures Backstay; `backstay-bench load` is the separate load process it starts.</summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        try
        {
            return args.FirstOrDefault() switch
            {
                "run" => await Runner.RunAsync(args[1..]),
                "load" => await LoadProcess.RunAsync(args[1..]),
                _ => Usage(),
            };
        }
        catch (ArgumentException ex)
        {
            Console.Error.WriteLine($"backstay-bench: {ex.Message}");
            return 2;
        }
    }

    private static int Usage()
    {
        Console.Error.WriteLine("""
            usage: backstay-bench run [--quick|--full|--footprint [--services N] [--in-progress K] [--sample-seconds S]] [--rate N] [--repo DIR] [--cli backstay.dll] [--r2r backstay.dll] [--out results.md] [--command TEXT]
                   backstay-bench load --url http://127.0.0.1:PORT/ --rate N --max-seconds S --out log.csv [--stop-on-stdin]
            Use bench/run from the repository root; see bench/README.md.
            """);
        return 2;
    }
}
