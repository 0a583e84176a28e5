"""What mail intake keeps besides tickets: automatic mail and duplicate deliveries."""
