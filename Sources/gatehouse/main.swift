import Glibc

// The CLI lives in CommandLineInterface.swift; threads are only ever started from library code.
exit(CommandLineInterface.main(Array(CommandLine.arguments.dropFirst())))
