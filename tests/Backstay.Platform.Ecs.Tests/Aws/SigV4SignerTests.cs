using System.Text;
using Amazon.Runtime.Internal.Auth;
using Backstay.Platform.Ecs.Aws;

namespace Backstay.Platform.Ecs.Tests.Aws;

/// <summary>The signer against cases of AWS's published Signature Version 4 test suite (aws-sig-v4-test-suite, 2015-08-30).</summary>
public sealed class SigV4SignerTests
{
    private static readonly AwsCredentials Credentials = new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    private static readonly DateTimeOffset SignedAt = new(2015, 8, 30, 12, 36, 0, TimeSpan.Zero);

    private const string SessionToken =
        "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

    [Fact]
    public void Sign_GetVanilla_MatchesPublishedCanonicalRequestStringToSignAndSignature()
    {
        var result = SigV4Signer.Sign("GET", new Uri("https://example.amazonaws.com/"), [], [], Credentials, "us-east-1", "service", SignedAt);

        result.CanonicalRequest.ShouldBe(
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        result.StringToSign.ShouldBe(
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
        result.Authorization.ShouldBe(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    }

    [Theory]
    [InlineData("POST", "https://example.amazonaws.com/", "", null, "host;x-amz-date", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b")]
    [InlineData("GET", "https://example.amazonaws.com/?Param2=value2&Param1=value1", "", null, "host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")]
    [InlineData("GET", "https://example.amazonaws.com/?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        "", null, "host;x-amz-date", "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197")]
    [InlineData("POST", "https://example.amazonaws.com/", "Param1=value1", "application/x-www-form-urlencoded", "content-type;host;x-amz-date",
        "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a")]
    public void Sign_SuiteCases_MatchPublishedSignatures(string method, string url, string body, string? contentType, string signedHeaders, string signature)
    {
        var headers = contentType is null ? [] : new List<KeyValuePair<string, string>> { new("Content-Type", contentType) };

        var result = SigV4Signer.Sign(method, new Uri(url), headers, Encoding.UTF8.GetBytes(body), Credentials, "us-east-1", "service", SignedAt);

        result.Authorization.ShouldBe($"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders={signedHeaders}, Signature={signature}");
    }

    [Fact]
    public void Sign_PostStsHeaderBefore_SignsTheSessionToken()
    {
        var result = SigV4Signer.Sign("POST", new Uri("https://example.amazonaws.com/"), [], [], Credentials with { SessionToken = SessionToken },
            "us-east-1", "service", SignedAt);

        result.Authorization.ShouldBe(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead");
    }

    [Fact]
    public void Sign_JsonRequestWithPort_AgreesWithAwsSdkSigner()
    {
        var body = Encoding.UTF8.GetBytes("{\"cluster\":\"prod\",\"services\":[\"hello\"]}");
        var headers = new List<KeyValuePair<string, string>>
        {
            new("Content-Type", "application/x-amz-json-1.1"),
            new("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.DescribeServices"),
        };

        var ours = SigV4Signer.Sign("POST", new Uri("http://127.0.0.1:5000/"), headers, body, Credentials, "eu-west-1", "ecs", SignedAt);
        var sdk = AWS4Signer.ComputeSignature(Credentials.AccessKeyId, Credentials.SecretAccessKey, "eu-west-1", SignedAt.UtcDateTime, "ecs",
            ours.SignedHeaders, ours.CanonicalRequest);

        ours.SignedHeaders.ShouldBe("content-type;host;x-amz-date;x-amz-target");
        ours.CanonicalRequest.ShouldContain("host:127.0.0.1:5000\n");
        ours.Authorization.ShouldEndWith("Signature=" + sdk.Signature);
    }
}
