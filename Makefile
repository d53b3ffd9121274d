# The README's two commands. Each sets up whatever is missing first.
.PHONY: demo test

demo:
	./scripts/demo.sh

test:
	./scripts/test.sh
