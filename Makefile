include Makefile.dev
