"""vaelab.checks: one message style, ``NAME must be WHAT, got VALUE.`` plus a hint, for every kind of argument."""

import math

import numpy as np
import pytest

from vaelab.checks import choice, is_int, nonnegative_int, number, positive_int, probability


def test_integers_accept_python_and_numpy_integers_and_refuse_booleans_and_floats():
    assert positive_int(np.int64(3), "n") == 3 and isinstance(positive_int(np.int64(3), "n"), int)
    assert nonnegative_int(0, "epochs") == 0
    assert is_int(5) and is_int(np.int32(5)) and not is_int(True) and not is_int(5.0)
    for bad in (0, -1, 2.0, True, "3", None):
        with pytest.raises(ValueError, match=r"^n must be a positive integer, got "):
            positive_int(bad, "n")
    with pytest.raises(ValueError, match=r"^epochs must be an integer >= 0, got -1\. It is a number of epochs\.$"):
        nonnegative_int(-1, "epochs", hint="It is a number of epochs.")


@pytest.mark.parametrize("value, kwargs, message", [
    (math.nan, {}, "lr must be a finite number, got nan."),
    (math.inf, {}, "lr must be a finite number, got inf."),
    (0.0, {"low": 0, "low_open": True}, "lr must be a finite number > 0, got 0.0."),
    (2.0, {"low": 0, "high": 1}, "lr must be a finite number >= 0 and <= 1, got 2.0."),
    (1.0, {"high": 1, "high_open": True}, "lr must be a finite number < 1, got 1.0."),
    (True, {}, "lr must be a finite number, got True."),
    ("0.1", {}, "lr must be a finite number, got '0.1'."),
])
def test_numbers_name_the_argument_and_the_bounds(value, kwargs, message):
    with pytest.raises(ValueError) as err:
        number(value, "lr", **kwargs)
    assert str(err.value) == message


def test_numbers_within_bounds_come_back_as_floats():
    assert number(np.float32(0.5), "x", low=0, high=1) == 0.5 and type(number(1, "x")) is float
    assert probability(0.0, "p") == 0.0 and probability(1, "p") == 1.0
    with pytest.raises(ValueError, match=r"p must be a finite number >= 0 and <= 1"):
        probability(1.5, "p")


def test_choice_lists_the_choices_and_survives_unhashable_values():
    assert choice("rbf", "kernel", ("imq", "rbf")) == "rbf"
    with pytest.raises(ValueError, match=r"^kernel must be one of 'imq', 'rbf', got 'gauss'\. Hint\.$"):
        choice("gauss", "kernel", ("imq", "rbf"), hint="Hint.")
    with pytest.raises(ValueError, match="kernel must be one of"):
        choice(["imq"], "kernel", {"imq": 1, "rbf": 2})
