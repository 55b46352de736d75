from local_emulator.iam.layer import main

main()
