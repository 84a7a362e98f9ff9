"""The ``genguard`` subcommands, one module each; ``genguard.cli.COMMANDS`` lists them."""
