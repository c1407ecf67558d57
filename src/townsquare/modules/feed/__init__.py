"""Home feeds: chronological and ranked, fan-out on write into Redis or the home inbox."""
