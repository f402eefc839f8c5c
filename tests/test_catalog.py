"""The action catalogue: every entry reaches a plan builder that takes what the entry gives."""

from __future__ import annotations

import inspect

import pytest

from console.actions import catalog
from console.actions.catalog import Action


@pytest.mark.parametrize("action", catalog.ACTIONS, ids=lambda a: a.name)
def test_every_builder_takes_the_target_and_options_its_entry_passes(action: Action) -> None:
    params = inspect.signature(catalog.resolve(action.build)).parameters
    given = [o.name for o in action.options]
    if action.target.param:
        given.append(action.target.param)
    assert set(given) <= set(params), f"{action.build} takes {list(params)}"
    if action.applies:
        assert len(inspect.signature(catalog.resolve(action.applies)).parameters) == 3


def test_names_and_keys_are_unique_where_they_must_be() -> None:
    names = [n for a in catalog.ACTIONS for n in (" ".join(a.words), *a.aliases)]
    assert len(names) == len(set(names))
    for key, actions in catalog.keyed().items():
        # Actions sharing a key act on the same kind of thing and say when each applies.
        assert len({a.target.kind for a in actions}) == 1, key
        assert all(a.applies for a in actions) or len(actions) == 1, key
    for parent in {a.words[0] for a in catalog.ACTIONS if len(a.words) > 1}:
        assert parent in catalog.PARENTS
