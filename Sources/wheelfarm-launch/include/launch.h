/* wheelfarm-launch has no interface for other targets: see launch.c. */
