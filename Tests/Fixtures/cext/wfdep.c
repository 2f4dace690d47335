/* A leaf library that no system has: proves nested grafting (libwfdemo needs it). */
int wfdep_base(void) { return 40; }
