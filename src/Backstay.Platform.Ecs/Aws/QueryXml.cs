using System.Xml.Linq;

namespace Backstay.Platform.Ecs.Aws;

/// <summary>Reading Query-protocol XML answers and writing Query parameters, without caring about namespaces.</summary>
internal static class QueryXml
{
    /// <summary>The {Operation}Result element of an answer.</summary>
    public static XElement Result(string xml, string operation)
    {
        var doc = XDocument.Parse(xml);
        return doc.Root?.Elements().FirstOrDefault(e => e.Name.LocalName == operation + "Result")
            ?? doc.Root
            ?? throw new FormatException($"The {operation} answer is empty.");
    }

    public static XElement? Child(this XElement? element, string name) =>
        element?.Elements().FirstOrDefault(e => e.Name.LocalName == name);

    public static string? Text(this XElement? element, string name) => element.Child(name)?.Value;

    public static int? Int(this XElement? element, string name) =>
        element.Text(name) is { } s && int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null;

    public static bool? Bool(this XElement? element, string name) =>
        element.Text(name) is { } s && bool.TryParse(s, out var v) ? v : null;

    /// <summary>The member elements of a list element.</summary>
    public static IEnumerable<XElement> Members(this XElement? element, string listName) =>
        element.Child(listName)?.Elements().Where(e => e.Name.LocalName == "member") ?? [];

    /// <summary>
    /// Writes an XML structure as Query parameters under a prefix: lists of member elements become prefix.member.N,
    /// structures prefix.Name, leaves their text. Lets an answer's structure be sent back as it came.
    /// </summary>
    public static void Flatten(XElement element, string prefix, List<KeyValuePair<string, string>> into)
    {
        ArgumentNullException.ThrowIfNull(element);
        ArgumentNullException.ThrowIfNull(into);
        if (!element.HasElements)
        {
            into.Add(new(prefix, element.Value));
            return;
        }

        var index = 0;
        foreach (var child in element.Elements())
        {
            if (child.Name.LocalName == "member")
            {
                index++;
                Flatten(child, $"{prefix}.member.{index.ToString(CultureInfo.InvariantCulture)}", into);
            }
            else
            {
                Flatten(child, $"{prefix}.{child.Name.LocalName}", into);
            }
        }
    }

    public static string Iso(DateTimeOffset value) => value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
