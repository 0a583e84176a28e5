#!/bin/sh
# Refresh the web app's catalogs after strings changed in code or templates:
#   1. extract every message into helpdesk/translations/messages.pot (babel.cfg says where),
#   2. merge it into the Serbian (Latin) and Turkish .po files (new strings arrive empty),
#   3. list what still needs a translator, and compile the .mo files for a local run.
# Then translate the empty and fuzzy entries, and run `pytest tests/test_i18n.py`.
set -eu
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
DIR=helpdesk/translations

"$BIN/pybabel" -q extract -F babel.cfg -k N_ -k _l -k lazy_gettext -k lazy_ngettext:1,2 \
    -k lazy_pgettext:1c,2 \
    --sort-by-file --no-wrap --project=helpdesk --copyright-holder="the helpdesk authors" \
    -o "$DIR/messages.pot" .

for lang in sr_Latn tr; do
    po="$DIR/$lang/LC_MESSAGES/messages.po"
    if [ -f "$po" ]; then
        "$BIN/pybabel" -q update --no-wrap --previous --ignore-obsolete -D messages -i "$DIR/messages.pot" \
            -d "$DIR" -l "$lang"
    else
        "$BIN/pybabel" -q init --no-wrap -D messages -i "$DIR/messages.pot" -d "$DIR" -l "$lang"
    fi
done

"$BIN/python" - "$DIR" <<'PY'
import sys
from pathlib import Path

from babel.messages.pofile import read_po

for po in sorted(Path(sys.argv[1]).glob("*/LC_MESSAGES/messages.po")):
    with po.open("rb") as fh:
        catalog = read_po(fh)
    todo = [m for m in catalog if m.id and (m.fuzzy or not all(
        m.string if isinstance(m.string, tuple) else (m.string,)))]
    done = sum(1 for m in catalog if m.id) - len(todo)
    print(f"{po}: {done} translated, {len(todo)} to do")
    for m in todo:
        print("   ", "fuzzy" if m.fuzzy else "empty", repr(m.id if isinstance(m.id, str) else m.id[0]))
PY

"$BIN/pybabel" -q compile -f -d "$DIR" -D messages
