// The tests start real processes and HAProxy on a 2-core machine; running them one at a time keeps timings honest.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
