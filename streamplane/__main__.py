from streamplane.cli import main

main()
