// The tests share one controller with real processes, HAProxy and Chromium on a 2-core machine: one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
