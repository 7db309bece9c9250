from worker.app import main

raise SystemExit(main())
