from evalsite_client.cli import main

raise SystemExit(main())
