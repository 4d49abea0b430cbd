#!/usr/bin/perl
# charon_keys.pl LOG: the IKE SA secrets a charon log at "ike = 4" holds.
#
# strongSwan 5.9.8 (keymat_v2.c) hex-dumps the key schedule's values at log
# level 4 of the "ike" subsystem: the DH shared secret, SKEYSEED and the
# seven keys Sk_d, Sk_ai, Sk_ar, Sk_ei, Sk_er, Sk_pi, Sk_pr (Sk_a* only with
# an integrity algorithm), each as a line "NAME => N bytes @ ADDR" followed
# by dump lines "OFFSET: XX XX ...  ascii". At level 1 it names the
# negotiated suite ("selected proposal: IKE:..."). Printed as "key hex"
# lines, the first IKE SA of the log only (later ones would be rekeys).
use strict;
use warnings;

die "usage: charon_keys.pl LOG\n" unless @ARGV == 1;
my %label = (
	'shared Diffie Hellman secret' => 'g_ir',
	'SKEYSEED' => 'skeyseed',
	'Sk_d secret' => 'sk_d',
	'Sk_ai secret' => 'sk_ai',
	'Sk_ar secret' => 'sk_ar',
	'Sk_ei secret' => 'sk_ei',
	'Sk_er secret' => 'sk_er',
	'Sk_pi secret' => 'sk_pi',
	'Sk_pr secret' => 'sk_pr',
);
my @order = qw(g_ir skeyseed sk_d sk_ai sk_ar sk_ei sk_er sk_pi sk_pr);
my (%val, $cur, $want, $hex, $sa, $proposal);

open(my $fh, '<', $ARGV[0]) or die "charon_keys: $ARGV[0]: $!\n";
while (my $line = <$fh>) {
	# Strip "TIME THREAD[SUBSYS] <conn|N> " so the rest is the message.
	next unless $line =~ /^\S+ \d+\[(\w+)\] (?:<([^>]*)> )?(.*)$/;
	my ($subsys, $tag, $msg) = ($1, $2 // '', $3);
	if (defined $cur) {
		if ($subsys eq 'IKE' && $tag eq $sa && $msg =~ /^\s*\d+: ((?:[0-9A-F]{2} ){1,16})/) {
			my @b = split(' ', $1);
			my $need = $want - length($hex) / 2;
			splice(@b, $need) if @b > $need;
			$hex .= lc(join('', @b));
			if (length($hex) / 2 == $want) {
				$val{$cur} = $hex;
				undef $cur;
			}
			next;
		}
		die "charon_keys: dump of $cur cut off after " . length($hex) / 2 . " of $want bytes\n";
	}
	if (!defined $proposal && $msg =~ /^selected proposal: (IKE:\S+)/) {
		$proposal = $1;
		next;
	}
	next unless $subsys eq 'IKE' && $msg =~ /^(.+?) => (\d+) bytes @/;
	my ($what, $n) = ($1, $2);
	next unless exists $label{$what};
	$sa //= $tag;
	next if $tag ne $sa || exists $val{$label{$what}};
	($cur, $want, $hex) = ($label{$what}, $n, '');
	if ($want == 0) { $val{$cur} = ''; undef $cur; }
}
close $fh;
die "charon_keys: dump of $cur cut off at the end of the log\n" if defined $cur;
die "charon_keys: no 'selected proposal: IKE:' line (log level of cfg/ike too low?)\n"
	unless defined $proposal;
for my $k (qw(g_ir skeyseed sk_d sk_ei sk_er sk_pi sk_pr)) {
	die "charon_keys: no $k in the log (is ike at level 4?)\n" unless exists $val{$k};
}
print "ike_sa $sa\n";
print "proposal $proposal\n";
for my $k (@order) {
	print "$k $val{$k}\n" if exists $val{$k};
}
