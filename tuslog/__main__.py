from tuslog.cli import main

main()
