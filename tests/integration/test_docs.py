"""The docs describe what is shipped.

1. No promise of future work in README, docs/ or the examples ("in a later
   release", "not yet", "TODO", ...). A line that really describes a plan
   without promising it may opt out with the marker `future-ok` on the same
   line (in Markdown: `<!-- future-ok: why -->`); a marker on a line with no
   such phrase is stale and fails too. docs/design/ holds the team's design
   notes for work in progress: plans by nature, so not checked for phrases
   (the operator docs must not link to them as if they were shipped).
2. Every `geodnsd` / `geodnsctl` subcommand and flag the docs show in a
   command (code blocks, inline code, the systemd unit's Exec lines) exists in
   the program's own --help.
"""
import glob
import os
import re
import subprocess
import unittest

from harness import GEODNSD

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../.."))

# Phrases that promise work the shipped program does not do. Chosen to catch
# the ways a stale doc says "not there yet" without matching ordinary prose
# ("later" alone, "plan" in "data plane", "planned" in "traffic its operator planned").
FUTURE = [
    (re.compile(r"\b(later|next|future|upcoming|coming|subsequent) (releases?|versions?)\b", re.I), None),
    (re.compile(r"\bcoming soon\b", re.I), None),
    (re.compile(r"\bnot yet\b", re.I), None),
    (re.compile(r"\b(supported|implemented|available|done|shipped|wired) yet\b", re.I), None),
    (re.compile(r"\b(is|are|was|were) planned\b|\bplanned (for|feature|support|work)\b", re.I), None),
    (re.compile(r"\bwill (arrive|come|land|be added|be supported|be implemented|be available)\b", re.I), None),
    (re.compile(r"\b(shown|added|exposed|supported|available|handled) (in [\w/`]+ )?later\b", re.I), None),
    (re.compile(r"\b(TODO|TBD|FIXME|XXX)\b"), None),  # case-sensitive: markers, not words
    (re.compile(r"\bwork in progress\b|\bWIP\b|\broadmap\b", re.I), None),
]
OPT_OUT = "future-ok"


def doc_files():
    files = [os.path.join(ROOT, "README.md")]
    files += sorted(p for p in glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True)
                    if not p.startswith(os.path.join(ROOT, "docs", "design") + os.sep))
    for sub in ("examples", "docker"):
        for p in sorted(glob.glob(os.path.join(ROOT, sub, "**", "*"), recursive=True)):
            if os.path.isfile(p) and not p.endswith((".mmdb", ".pyc")):
                files.append(p)
    return files


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def future_phrases(line):
    return [m.group(0) for rx, _ in FUTURE for m in rx.finditer(line)]


def code_segments(path):
    """(line number, text) of every piece of code a reader would type: fenced
    blocks line by line, inline `code` spans, and a unit file's Exec lines."""
    out = []
    if path.endswith(".service"):
        for n, line in enumerate(read_lines(path), 1):
            m = re.match(r"\s*Exec\w*=[-+!@:]*(.*)", line)
            if m:
                out.append((n, m.group(1)))
        return out
    if not path.endswith(".md"):
        return out
    fenced = False
    for n, line in enumerate(read_lines(path), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            out.append((n, line))
        else:
            out += [(n, m.group(1)) for m in re.finditer(r"`([^`]+)`", line)]
    return out


def commands(segment):
    """Each geodnsd/geodnsctl invocation in a shell line: (program, argv)."""
    segment = re.sub(r"\s#.*$", "", segment)  # a trailing shell comment
    found = []
    for part in re.split(r"&&|\|\||[|;()]", segment):
        tokens = part.split()
        while tokens and (tokens[0] in ("$", "sudo", "exec") or re.match(r"^\w+=\S*$", tokens[0])):
            tokens = tokens[1:]
        if not tokens:
            continue
        prog = os.path.basename(tokens[0])
        if prog in ("geodnsd", "geodnsctl"):
            found.append((prog, tokens[1:]))
    return found


def help_text(prog):
    exe = os.path.join(os.path.dirname(GEODNSD), "geodnsctl")
    argv = {"geodnsd": [GEODNSD, "--help"],
            "geodnsctl": [exe, "--help"] if os.path.exists(exe) else [GEODNSD, "ctl", "--help"]}[prog]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    return p.stdout


PLACEHOLDER = r"(?:[A-Z][\w:/\[\]|.]*|http\S+)"


class Help:
    """The flags and commands a program's --help lists."""

    def __init__(self, prog):
        text = help_text(prog)
        self.flags = set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", text))
        # Flags shown with a value placeholder ("--reason TEXT", "-c, --config FILE") take the next token.
        self.with_value = set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)[ =]" + PLACEHOLDER, text))
        for line in text.splitlines():
            m = re.match(r"\s*((?:--?[A-Za-z][\w-]*,\s*)+)(--?[A-Za-z][\w-]*)", line)
            if m and m.group(2) in self.with_value:
                self.with_value |= set(re.findall(r"--?[A-Za-z][\w-]*", m.group(1)))
        if prog == "geodnsd":
            self.commands = set(re.findall(r"^\s+geodnsd \[?([a-z][a-z-]*)\]?", text, re.M))
        else:
            usage = text.split("Usage:", 1)[1].split("\n\n", 1)[0]
            self.commands = set(re.findall(r"^  ([a-z][a-z-]*)\b", usage, re.M))

    def problems(self, prog, argv):
        """What in `argv` the program does not know: flags, and the command
        (geodnsd: only first; geodnsctl: the first word that is no flag's value)."""
        out, words, skip = [], [], False
        first_is_word = bool(argv) and not argv[0].strip("[]").startswith("-")
        for tok in argv:
            if skip:
                skip = False
                continue
            bare = tok.strip("[]")
            if bare.startswith("-") and len(bare) > 1:
                flag = bare.split("=", 1)[0]
                if flag not in self.flags:
                    out.append("no flag " + flag)
                skip = flag in self.with_value and "=" not in bare and not tok.endswith("]")
            else:
                words.append(tok)
        if prog == "geodnsd":
            if first_is_word and re.fullmatch(r"[a-z][a-z-]*", words[0]):
                if words[0] not in self.commands:
                    out.append("no command '%s'" % words[0])
                words = words[1:]
            if words and words[0] != "..." and not (argv and argv[0] == "ctl"):
                out.append("unexpected argument '%s' (not a command, not a flag's value)" % words[0])
        elif words and re.fullmatch(r"[a-z][a-z-]*", words[0]) and words[0] not in self.commands:
            out.append("no command '%s'" % words[0])
        return out


class DocsDescribeWhatIsShipped(unittest.TestCase):
    def test_no_promises_of_future_work(self):
        problems = []
        for path in doc_files():
            for n, line in enumerate(read_lines(path), 1):
                found = future_phrases(line)
                rel = os.path.relpath(path, ROOT)
                if found and OPT_OUT not in line:
                    problems.append("%s:%d: %s  <- %s" % (rel, n, line.strip(), ", ".join(found)))
                if OPT_OUT in line and not found:
                    problems.append("%s:%d: stale '%s' marker (no future phrase on the line)" % (rel, n, OPT_OUT))
        self.assertEqual(problems, [], "\n" + "\n".join(problems))

    def test_the_phrase_list_catches_what_it_is_meant_to(self):
        # The list itself: the stale sentences this test was written for, and prose it must leave alone.
        for stale in ("pipeline (later releases); they filter",
                      "used by the load-aware steps of a later release.",
                      "failover controller's job — next release.)",
                      "through the admin API (next release); the",
                      "Labels are free-form metadata (shown in status later).",
                      "IPv6 listeners are not yet supported", "TODO: document fences",
                      "Zone transfers are planned for 0.3", "DNSSEC will arrive with 0.4"):
            self.assertTrue(future_phrases(stale), stale)
        for fine in ("the resolver traffic its operator planned", "the data plane", "a later reload",
                     "answers come back soon after a failure", "closed as soon as they are accepted",
                     "not in the zone", "returns NOTIMP (not implemented)", "later in this file"):
            self.assertEqual(future_phrases(fine), [], fine)

    def test_every_command_and_flag_in_the_docs_exists(self):
        helps = {p: Help(p) for p in ("geodnsd", "geodnsctl")}
        problems, seen = [], 0
        for path in doc_files():
            rel = os.path.relpath(path, ROOT)
            for n, seg in code_segments(path):
                for prog, argv in commands(seg):
                    seen += 1
                    for p in helps[prog].problems(prog, argv):
                        problems.append("%s:%d: %s: %s (in `%s`)" % (rel, n, prog, p, seg.strip()))
        self.assertGreater(seen, 20, "the docs show fewer commands than expected: is the parser broken?")
        self.assertEqual(problems, [], "\n" + "\n".join(problems))

    def test_the_command_checker_catches_a_stale_doc(self):
        d, c = Help("geodnsd"), Help("geodnsctl")
        self.assertEqual(commands("sudo /usr/sbin/geodnsd check-config -c x.json && echo ok # note"),
                         [("geodnsd", ["check-config", "-c", "x.json"])])
        self.assertEqual(commands("useradd --home-dir /var/lib/geodnsd --shell /bin/false"), [])
        self.assertEqual(commands("systemctl reload geodnsd"), [])
        cases = [
            (d, "geodnsd", "check-config --config /etc/g.json", []),
            (d, "geodnsd", "-c g.json -l 127.0.0.1:53 --log-format json", []),
            (d, "geodnsd", "status --config F [--json]", []),
            (d, "geodnsd", "validate --config g.json", ["no command 'validate'"]),
            (d, "geodnsd", "--config g.json --zones-dir z", ["no flag --zones-dir", "unexpected argument 'z' (not a command, not a flag's value)"]),
            (c, "geodnsctl", "-c g.json drain region eu --reason x --expires 60", []),
            (c, "geodnsctl", "--config g.json pause region eu", ["no command 'pause'"]),
            (c, "geodnsctl", "-c g.json drain region eu --why x", ["no flag --why"]),
        ]
        for h, prog, line, expect in cases:
            self.assertEqual(h.problems(prog, line.split()), expect, line)

if __name__ == "__main__":
    unittest.main()
