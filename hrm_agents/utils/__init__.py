"""Shared helpers with one home: strict JSON I/O (:mod:`.jsonio`), number formatting (:mod:`.fmt`),
figure set-up (:mod:`.figures`) and constants (:mod:`.constants`). Depends on nothing else in the
package, so every layer may import it."""
