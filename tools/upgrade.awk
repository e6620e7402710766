# tools/upgrade.awk: builds an upgrade script from upgrade/<name>.sql.in (see the Makefile).
#
#   -- @include <file>            the whole file (a subsystem new in the release)
#   -- @function <file> <name>    the function <name> as <file> defines it, as CREATE OR REPLACE
#                                 (a changed body), so that no upgrade script keeps a copy by hand;
#                                 <name>(<first argument's name> picks one of several overloads,
#                                 <name>#<k> the k-th definition of that name in the file
#
# A function ends at the first ";" that closes its definition: after an even number of $$
# (a quoted body), at "END;" for BEGIN ATOMIC bodies, else at the end of its last clause.
/^-- @include / {
	f = $3
	while ((getline line < f) > 0)
		print line
	close(f)
	next
}
/^-- @function / {
	f = $3; name = $4; copying = 0; quoted = 0; atomic = 0; found = 0; nth = 1
	if (index(name, "#")) {
		nth = substr(name, index(name, "#") + 1) + 0
		name = substr(name, 1, index(name, "#") - 1)
	}
	head = "CREATE FUNCTION " name (index(name, "(") ? " " : "(")
	seen = 0
	while ((getline line < f) > 0) {
		if (!copying && !found && index(line, head) == 1 && ++seen == nth) {
			copying = 1; found = 1
			sub(/^CREATE FUNCTION/, "CREATE OR REPLACE FUNCTION", line)
		}
		if (!copying)
			continue
		print line
		probe = line
		if (gsub(/\$\$/, "", probe) % 2 == 1)
			quoted = !quoted
		if (line ~ /BEGIN ATOMIC/)
			atomic = 1
		if (!quoted && ((atomic && line ~ /^END;/) || (!atomic && line ~ /;[ \t]*$/)))
			copying = 0
	}
	close(f)
	if (!found) {
		print "upgrade.awk: no function " name " in " f > "/dev/stderr"
		exit 1
	}
	next
}
{ print }
