"""How ``RNNPyTensor`` keeps its parameters in shared variables, and the class layer's layout.

U (and its optimizer statistics) is kept transposed, (word_dim, G*H), so that looking up a word is
reading a contiguous row. With the class-factored output layer (``rnncore.word_classes``), V (and
its statistics) is kept with its rows sorted by class, so that the fused class layer
(``rnncore.fused_classes``) reads each class's words as one slice; the layout (word_class,
position, starts) is in shared variables, inputs of the compiled functions, so new classes
compile nothing. ``get_params`` and ``get_optimizer_state`` turn everything back into the model's
own layout (U (G*H, C), V (C, H) by word id), the one every engine shares.
"""
from __future__ import annotations

import numpy as np
import pytensor

from rnncore import word_classes


class StoredLayouts:
    """The stored-layout half of ``RNNPyTensor``: needs ``word_dim``, ``get_params``,
    ``set_params``, ``get_optimizer_state``, ``set_optimizer_state`` and a ``Vc`` property."""

    def _init_layout(self, init: dict) -> None:
        """The class layer's first layout, from Zipf counts (``assign_classes`` replaces it)."""
        self._layout, self._class_inputs = None, None
        if "Vc" not in init:
            return
        K = len(init["Vc"])
        self._layout = word_classes.ClassLayout.of(
            word_classes.assign_classes(word_classes.zipf_counts(self.word_dim), K), K)
        # word_class, position, starts: inputs of the fused class layer
        self._class_inputs = tuple(pytensor.shared(a, name=n) for n, a in zip(
            ("word_class", "position", "starts"), self._layout_arrays()))

    @property
    def layout(self) -> word_classes.ClassLayout | None:
        """The class layer's words by class (None for the softmax)."""
        return self._layout

    def _layout_arrays(self):
        return self._layout.word_class, self._layout.position, self._layout.starts

    def _sorted_by_class(self, name: str) -> bool:
        return self._layout is not None and (name == "V" or name.endswith("_V"))

    def _stored(self, name: str, value: np.ndarray) -> np.ndarray:
        """``value`` of parameter (or statistic) ``name`` as the shared variable keeps it."""
        if name == "U" or name.endswith("_U"):
            return np.ascontiguousarray(value.T)
        return value[self._layout.order] if self._sorted_by_class(name) else value

    def _unstored(self, name: str, value: np.ndarray) -> np.ndarray:
        """The inverse of ``_stored``: the model's own layout (U (G*H, C), V (C, H) by word id)."""
        if name == "U" or name.endswith("_U"):
            return np.ascontiguousarray(value.T)
        return value[self._layout.position] if self._sorted_by_class(name) else value

    def assign_classes(self, counts) -> None:
        """Put the words into classes by these counts (``rnncore.word_classes``): before
        training, from the training split's ``target_counts``."""
        params = self.get_params()
        params["word_class"] = word_classes.assign_classes(counts, len(self.Vc))
        self.set_params(params)

    def _set_layout(self, word_class) -> None:
        """A new class assignment: V's optimizer statistics are re-sorted (set_params sorts V)."""
        layout = word_classes.ClassLayout.of(word_class, len(self.Vc))
        if np.array_equal(layout.word_class, self._layout.word_class):
            return
        state = self.get_optimizer_state()
        self._layout = layout
        for shared, value in zip(self._class_inputs, self._layout_arrays()):
            shared.set_value(value)
        self.set_optimizer_state(state)
