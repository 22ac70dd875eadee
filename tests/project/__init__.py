"""The project as a whole: the wheel, the README, the demos, the fuzzer."""
