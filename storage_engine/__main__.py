from storage_engine.cli import main

raise SystemExit(main())
