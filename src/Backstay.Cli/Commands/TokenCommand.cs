using System.Globalization;

namespace Backstay.Cli.Commands;

/// <summary>
/// `backstay token create NAME --role viewer|operator|admin`, `token list`, `token revoke NAME`: the controller's
/// named tokens, managed through its API with an admin token. The controller keeps only their hashes.
/// </summary>
internal static class TokenCommand
{
    private static readonly string[] Roles = ["viewer", "operator", "admin"];

    public static Command Create()
    {
        var command = new Command("token", "Create, list and revoke the controller's named API tokens (admin)");
        command.Subcommands.Add(CreateToken());
        command.Subcommands.Add(ListTokens());
        command.Subcommands.Add(RevokeToken());
        return command;
    }

    private static Command CreateToken()
    {
        var name = new Argument<string>("name") { Description = "Name recorded in the history for everything done with the token, e.g. ci-deploy" };
        var role = new Option<string>("--role") { Description = "viewer (reads), operator (also continue, stop, rollback) or admin (also deploy, reset, tokens)", Required = true };
        role.AcceptOnlyFromAmong(Roles);
        var command = new Command("create", "Make a named token; it is printed once and kept only as a hash") { name, role };
        command.SetAction(async (result, cancellationToken) =>
        {
            await using var server = await ServerAsync(result, cancellationToken);
            var created = await server.CreateTokenAsync(result.GetValue(name)!, result.GetValue(role)!, cancellationToken);
            if (GlobalOptions.Json(result))
            {
                Console.Out.WriteLine(BackstayJson.Serialize(new TokenCreatedReport(Reports.SchemaVersion, created.Name, created.Role, created.Token), Reports.Json));
            }
            else
            {
                Consoles.Human.MarkupLine(Markup.Escape($"Token '{created.Name}' ({created.Role.ToLowerInvariant()}) created. It is shown only now; keep it in a secret store:"));
                Console.Out.WriteLine(created.Token);
            }

            return ExitCodes.Succeeded;
        });
        return command;
    }

    private static Command ListTokens()
    {
        var command = new Command("list", "List the controller's tokens: names and roles, never the tokens");
        command.SetAction(async (result, cancellationToken) =>
        {
            await using var server = await ServerAsync(result, cancellationToken);
            var tokens = await server.ListTokensAsync(cancellationToken);
            if (GlobalOptions.Json(result))
            {
                // The list stays a JSON array, as scripts index it; each element carries schemaVersion (schema/output/token-list.schema.json).
                Console.Out.WriteLine(BackstayJson.Serialize(
                    tokens.Select(t => new TokenListReport(Reports.SchemaVersion, t.Name, t.Role, t.CreatedAt, t.CreatedBy, t.Bootstrap)).ToList(),
                    Reports.Json));
                return ExitCodes.Succeeded;
            }

            var table = new Table().AddColumns("Name", "Role", "Created", "By");
            foreach (var token in tokens)
            {
                table.AddRow(
                    Markup.Escape(token.Name),
                    token.Role.ToLowerInvariant(),
                    token.Bootstrap ? "bootstrap file" : token.CreatedAt?.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) ?? "",
                    Markup.Escape(token.CreatedBy ?? ""));
            }

            Consoles.Human.Write(table);
            return ExitCodes.Succeeded;
        });
        return command;
    }

    private static Command RevokeToken()
    {
        var name = new Argument<string>("name") { Description = "Name of the token to revoke" };
        var command = new Command("revoke", "Revoke a named token; requests and dashboard sessions with it are refused from now on") { name };
        command.SetAction(async (result, cancellationToken) =>
        {
            await using var server = await ServerAsync(result, cancellationToken);
            await server.RevokeTokenAsync(result.GetValue(name)!, cancellationToken);
            if (GlobalOptions.Json(result))
            {
                Console.Out.WriteLine(BackstayJson.Serialize(new TokenRevokedReport(Reports.SchemaVersion, result.GetValue(name), Revoked: true), Reports.Json));
            }
            else
            {
                Consoles.Human.MarkupLine(Markup.Escape($"Token '{result.GetValue(name)}' revoked."));
            }

            return ExitCodes.Succeeded;
        });
        return command;
    }

    /// <summary>Tokens live in the controller: these commands need one, and an admin token.</summary>
    private static async Task<HttpControlPlane> ServerAsync(ParseResult result, CancellationToken cancellationToken) =>
        await ControlPlanes.OpenServerAsync(result, cancellationToken)
        ?? throw new CliException(
            $"No controller runs for {GlobalOptions.StateDirectory(result).Path}: tokens are kept by `backstay serve`; start it, or give --server URL --token ADMIN_TOKEN.",
            ExitCodes.NoController);
}
