#!/usr/bin/perl
# The image of the footprint benchmark's services (bench/run --footprint): a tiny single-threaded HTTP server on
# 127.0.0.1:$PORT that answers 200 "ok" on every path (/ and the health check /healthz alike) with X-Revision from
# $BACKSTAY_REVISION, like samples/hello, in ~6 MiB of RSS instead of ~60 MiB. Connection: close on every answer.
use strict;
use warnings;
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_REUSEADDR pack_sockaddr_in inet_aton);

my $port = $ENV{PORT} or die "PORT is not set\n";
my $revision = $ENV{BACKSTAY_REVISION} // 'unknown';
socket(my $server, PF_INET, SOCK_STREAM, 0) or die "socket: $!\n";
setsockopt($server, SOL_SOCKET, SO_REUSEADDR, 1) or die "setsockopt: $!\n";
bind($server, pack_sockaddr_in($port, inet_aton('127.0.0.1'))) or die "cannot listen on 127.0.0.1:$port: $!\n";
listen($server, 128) or die "listen: $!\n";
$SIG{PIPE} = 'IGNORE';
$SIG{TERM} = sub { exit 0 };
print "tiny server on 127.0.0.1:$port, revision $revision\n";
my $body = "ok\n";
my $response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " . length($body)
    . "\r\nX-Revision: $revision\r\nConnection: close\r\n\r\n$body";

while (accept(my $client, $server)) {
    # One connection at a time; a client that sends nothing for 2 s is dropped so it cannot hold the server.
    my $request = '';
    while ($request !~ /\r?\n\r?\n/ && length($request) < 8192) {
        my $bits = '';
        vec($bits, fileno($client), 1) = 1;
        last unless select($bits, undef, undef, 2);
        last unless sysread($client, $request, 4096, length $request);
    }
    syswrite($client, $response) if $request =~ /^[A-Z]+ /;
    close $client;
}
