"""The footer, with ``q`` and ``?`` first: on a narrow terminal the keys left out are the others, whole."""

from __future__ import annotations

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.binding import Binding
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

# Offered first on every screen, whatever its width.
FIRST = ("quit", "app.quit", "help", "app.help")


class KeyFooter(Footer):
    """Textual's footer, the app's quit and help keys leading.

    The keys are laid out again only when what they say changed: moving
    focus between panes with the same keys (or any binding refresh that
    changes nothing shown) costs no re-compose, and several binding changes
    before the next paint cost one. A screen calls :meth:`fill` once its
    focus is set, in its mount: the keys are then part of its first layout,
    not composed after its first paint and laid out again (a second layout
    the next key would meet).

    Only the keys that fit whole are shown, in order (``q`` and ``?``
    always: help lists every key); a resize that changes how many fit lays
    them out again.
    """

    _shown: tuple[object, ...] | None = None
    _pending = False  # a re-compose is due after the next paint

    def _keys(self) -> tuple[dict[str, tuple[Binding, bool, str]], list[str]]:
        active = self.screen.active_bindings
        by_action: dict[str, tuple[Binding, bool, str]] = {}
        for _, binding, enabled, tooltip in active.values():
            if binding.show and binding.action not in by_action:
                by_action[binding.action] = (binding, enabled, tooltip)
        order = sorted(by_action, key=lambda action: (FIRST.index(action) // 2 if action in FIRST else len(FIRST)))
        return by_action, self._fitting(by_action, order)

    def _fitting(self, by_action: dict[str, tuple[Binding, bool, str]], order: list[str]) -> list[str]:
        """The leading keys of ``order`` that fit the footer's width beside the palette key."""
        width = self.size.width or self.app.size.width  # before the first layout: the terminal's
        palette = self.screen.active_bindings.get(self.app.COMMAND_PALETTE_BINDING)
        if palette is not None and self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
            width -= self._width(palette[1])  # its border and right padding take the place of the key's own
        fitting: list[str] = []
        for action in order:
            width -= self._width(by_action[action][0])
            if width < 0 and action not in FIRST:
                break
            fitting.append(action)
        return fitting

    def _width(self, binding: Binding) -> int:
        """Cells a key takes, as Textual's footer pads it: `` k `` then ``Description ``; compact,
        ``k`` then `` Description`` and a margin of one."""
        described = cell_len(binding.description) + 1 if binding.description else 0
        return cell_len(self.app.get_key_display(binding)) + described + (1 if self.compact else 2)

    def on_resize(self, event: Resize) -> None:
        if self._shown is not None:  # laid out once already: how many keys fit may have changed
            self._recompose_if_due()

    def _signature(self) -> tuple[object, ...]:
        by_action, order = self._keys()
        palette = self.screen.active_bindings.get(self.app.COMMAND_PALETTE_BINDING)
        return (tuple((by_action[a][0].key, by_action[a][0].description, by_action[a][1], by_action[a][2])
                      for a in order), palette is not None and palette[2])

    def fill(self) -> None:
        """Mount the keys for the screen's bindings now (its focus set), before its first layout."""
        self._bindings_ready = True
        if self._shown is None and not self.children:
            self.mount_all(list(self.compose()))

    def bindings_changed(self, screen: Screen[object]) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            return
        self._recompose_if_due()

    def _recompose_if_due(self) -> None:
        """Lay the keys out again after the next paint if what they say changed (once for many changes)."""
        if not self._pending and self._signature() != self._shown:
            self._pending = True
            self.call_after_refresh(self._recompose_if_changed)

    async def _recompose_if_changed(self) -> None:
        self._pending = False
        if self.is_attached and self._signature() != self._shown:
            await self.recompose()

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        self._shown = self._signature()
        active = self.screen.active_bindings
        by_action, order = self._keys()
        self.styles.grid_size_columns = len(order)
        for action in order:
            binding, enabled, tooltip = by_action[action]
            yield self._key(FooterKey(binding.key, self.app.get_key_display(binding), binding.description,
                                      binding.action, disabled=not enabled, tooltip=tooltip))
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
            found = active.get(self.app.COMMAND_PALETTE_BINDING)
            if found is not None:
                _, binding, enabled, _ = found
                yield FooterKey(binding.key, self.app.get_key_display(binding), binding.description, binding.action,
                                classes="-command-palette", disabled=not enabled,
                                tooltip=binding.tooltip or binding.description)

    def _key(self, key: FooterKey) -> FooterKey:
        """``key`` as compact as this footer: set once, not bound (a binding per key costs each its watcher
        and a style update at mount, and this footer's compactness never changes)."""
        key.set_reactive(FooterKey.compact, self.compact)
        key.set_class(self.compact, "-compact", update=False)
        return key
