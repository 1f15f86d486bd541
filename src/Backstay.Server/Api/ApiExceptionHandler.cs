using Backstay.Core.Control;
using Backstay.Core.Engine;
using Backstay.Core.Ports;

namespace Backstay.Server.Api;

/// <summary>Turns the control plane's refusals into the API's error body with the status a client acts on.</summary>
internal sealed class ApiExceptionHandler(ILogger<ApiExceptionHandler> logger)
{
    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        try
        {
            await next(context);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; there is nobody to answer.
        }
        catch (SpecRefusedException ex) when (!context.Response.HasStarted)
        {
            await ApiErrors.WriteAsync(context, new ApiErrorBody(ex.Message, ErrorKind.Invalid)
            {
                Status = StatusCodes.Status400BadRequest,
                Errors = ex.Problems,
                ErrorCount = ex.Count,
            });
        }
        catch (Exception ex) when (!context.Response.HasStarted && Map(ex) is { } error)
        {
            await ApiErrors.WriteAsync(context, error.Status, error.Kind, ex.Message, (ex as DeploymentConflictException)?.ActiveDeploymentId);
        }
        catch (Exception ex) when (!context.Response.HasStarted && context.Request.Path.StartsWithSegments("/api", StringComparison.Ordinal))
        {
            ServerLog.RequestFailed(logger, ex, context.Request.Method, context.Request.Path.Value ?? "");
            await ApiErrors.WriteAsync(context, StatusCodes.Status500InternalServerError, ErrorKind.Internal,
                $"The controller failed to answer: {ex.Message} (details are in its log).");
        }
    }

    private static (int Status, string Kind)? Map(Exception ex) => ex switch
    {
        ApiException api => (api.Status, api.Kind),
        DeploymentConflictException => (StatusCodes.Status409Conflict, ErrorKind.Conflict),
        DriftException => (StatusCodes.Status409Conflict, ErrorKind.Drift),
        InvalidRequestException => (StatusCodes.Status400BadRequest, ErrorKind.Invalid),
        BadHttpRequestException bad => (bad.StatusCode, ErrorKind.Invalid),
        _ => null,
    };
}
