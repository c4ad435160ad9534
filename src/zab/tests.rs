//! Unit tests of the ZAB core: exact outputs of steps.
