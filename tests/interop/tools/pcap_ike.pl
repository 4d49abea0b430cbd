#!/usr/bin/perl
# pcap_ike.pl PCAP OUTDIR: cut the IKE messages out of a tcpdump capture.
#
# Every UDP datagram on port 500 or 4500 that carries IKE becomes one file
# OUTDIR/NN-EXCHANGE-req|resp[-fragKofN].bin holding the message from the IKE
# header on: IP and UDP headers are dropped, and so is the 4-byte non-ESP
# marker on port 4500 (RFC 3948 2.2). ESP packets and NAT-T keepalives are
# skipped. OUTDIR/messages.txt lists the files in capture order with what a
# reader needs to know without decoding them (direction, SPIs, message ID).
#
# Written in Perl because perl-base is on every Debian system: the capture
# tool needs nothing beyond tcpdump. Link types: Ethernet, Linux cooked v1
# and v2 (tcpdump -i any), raw IPv4. IPv4 only, as the lab is; an IP
# fragment stops the tool (strongSwan fragments at the IKE layer, RFC 7383,
# so one showing up means something is off and the capture is not usable).
use strict;
use warnings;

die "usage: pcap_ike.pl PCAP OUTDIR\n" unless @ARGV == 2;
my ($pcap, $out) = @ARGV;
open(my $fh, '<:raw', $pcap) or die "pcap_ike: $pcap: $!\n";
local $/;
my $all = <$fh>;
close $fh;
die "pcap_ike: $pcap: too short for a pcap header\n" if length($all) < 24;

my $magic = unpack('V', substr($all, 0, 4));
my $e;    # 'V' little endian, 'N' big endian
if ($magic == 0xa1b2c3d4 || $magic == 0xa1b23c4d) {
	$e = 'V';
} elsif ($magic == 0xd4c3b2a1 || $magic == 0x4d3cb2a1) {
	$e = 'N';
} else {
	die sprintf("pcap_ike: %s: not a pcap file (magic %08x; pcapng is not read)\n", $pcap, $magic);
}
my $linktype = unpack($e, substr($all, 20, 4)) & 0x0fffffff;

my %exchange = (34 => 'ike_sa_init', 35 => 'ike_auth', 36 => 'create_child_sa',
		37 => 'informational', 43 => 'ike_intermediate');

sub ipv4_offset {
	my ($pkt) = @_;
	if ($linktype == 1) {          # Ethernet
		my $type = unpack('n', substr($pkt, 12, 2));
		return $type == 0x0800 ? 14 : undef;
	} elsif ($linktype == 113) {   # Linux cooked v1
		my $type = unpack('n', substr($pkt, 14, 2));
		return $type == 0x0800 ? 16 : undef;
	} elsif ($linktype == 276) {   # Linux cooked v2
		my $type = unpack('n', substr($pkt, 0, 2));
		return $type == 0x0800 ? 20 : undef;
	} elsif ($linktype == 101 || $linktype == 228) { # raw IP / raw IPv4
		return 0;
	}
	die "pcap_ike: link type $linktype not supported\n";
}

my @index;
my $pos = 24;
my $n = 0;
while ($pos + 16 <= length($all)) {
	my ($sec, $frac, $incl, $orig) = unpack("$e$e$e$e", substr($all, $pos, 16));
	$pos += 16;
	die "pcap_ike: record cut off at offset $pos\n" if $pos + $incl > length($all);
	my $pkt = substr($all, $pos, $incl);
	$pos += $incl;
	die "pcap_ike: packet truncated by the snap length ($incl of $orig bytes)\n" if $incl != $orig;
	my $ip = ipv4_offset($pkt);
	next unless defined $ip && length($pkt) >= $ip + 20;
	my ($vihl, $proto) = unpack('C x8 C', substr($pkt, $ip, 10));
	next unless ($vihl >> 4) == 4 && $proto == 17;
	my $ihl = ($vihl & 0x0f) * 4;
	my $total = unpack('n', substr($pkt, $ip + 2, 2));
	my $frag = unpack('n', substr($pkt, $ip + 6, 2));
	my ($src, $dst) = (join('.', unpack('C4', substr($pkt, $ip + 12, 4))),
			   join('.', unpack('C4', substr($pkt, $ip + 16, 4))));
	my $udp = $ip + $ihl;
	my ($sport, $dport, $ulen) = unpack('nnn', substr($pkt, $udp, 6));
	next unless $sport == 500 || $sport == 4500 || $dport == 500 || $dport == 4500;
	die "pcap_ike: IP fragment $src:$sport -> $dst:$dport: not usable\n" if $frag & 0x3fff;
	die "pcap_ike: bad lengths in $src:$sport -> $dst:$dport\n"
		if $ip + $total > length($pkt) || $ulen < 8 || $udp + $ulen > $ip + $total;
	my $payload = substr($pkt, $udp + 8, $ulen - 8);
	if ($sport == 4500 || $dport == 4500) {
		next if length($payload) == 1 && ord($payload) == 0xff;  # NAT-T keepalive
		next if length($payload) < 4 || unpack('N', $payload) != 0; # ESP
		$payload = substr($payload, 4);
	}
	die "pcap_ike: $src:$sport -> $dst:$dport: shorter than an IKE header\n" if length($payload) < 28;
	my ($spi_i, $spi_r, $next, $ver, $exch, $flags, $msgid, $len) =
		unpack('a8 a8 C C C C N N', $payload);
	die "pcap_ike: $src:$sport -> $dst:$dport: IKE length $len != datagram " . length($payload) . "\n"
		if $len != length($payload);
	my $name = $exchange{$exch} // "exchange$exch";
	my $rr = ($flags & 0x20) ? 'resp' : 'req';
	my $fragname = '';
	if ($next == 53 && length($payload) >= 36) {   # SKF: RFC 7383 2.5
		my ($num, $tot) = unpack('nn', substr($payload, 32, 4));
		$fragname = "-frag${num}of${tot}";
	}
	$n++;
	my $file = sprintf('%02d-%s-%s%s.bin', $n, $name, $rr, $fragname);
	open(my $o, '>:raw', "$out/$file") or die "pcap_ike: $out/$file: $!\n";
	print $o $payload;
	close $o or die "pcap_ike: $out/$file: $!\n";
	push @index, sprintf("%s %s %s %s %s:%d %s:%d spi_i=%s spi_r=%s msgid=%u len=%u",
			     $file, $name, $rr, ($flags & 0x08) ? 'from-initiator' : 'from-responder',
			     $src, $sport, $dst, $dport, unpack('H16', $spi_i), unpack('H16', $spi_r),
			     $msgid, $len);
}
die "pcap_ike: no IKE message in $pcap\n" unless @index;
open(my $ix, '>', "$out/messages.txt") or die "pcap_ike: $out/messages.txt: $!\n";
print $ix "# file exchange req|resp sender src dst SPIs message-ID length (capture order)\n";
print $ix "$_\n" for @index;
close $ix or die "pcap_ike: $out/messages.txt: $!\n";
print scalar(@index), "\n";
