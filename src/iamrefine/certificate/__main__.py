from iamrefine.certificate.cli import main

raise SystemExit(main())
