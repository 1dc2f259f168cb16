#!/usr/bin/perl
# A real RTSP server on 127.0.0.1 for the network-stream tests (Debian's librtsp-server-perl): a sender pushes with
# ANNOUNCE/RECORD to SOURCE_PORT (ffmpeg -f rtsp rtsp://127.0.0.1:SOURCE_PORT/NAME), clients play
# rtsp://127.0.0.1:CLIENT_PORT/NAME. Usage: rtsp_relay.pl CLIENT_PORT SOURCE_PORT RTP_START_PORT
use strict;
use warnings;
use AnyEvent;
use RTSP::Server;
my ($client_port, $source_port, $rtp_port) = @ARGV;
die "usage: rtsp_relay.pl CLIENT_PORT SOURCE_PORT RTP_START_PORT\n" unless $rtp_port;
my $srv = RTSP::Server->new(
    log_level => 1, client_listen_port => $client_port, source_listen_port => $source_port, rtp_start_port => $rtp_port,
    client_listen_address => '127.0.0.1', source_listen_address => '127.0.0.1',
);
$srv->listen;
$| = 1;
print "listening\n";
AnyEvent->condvar->recv;
