/*
 * czctl.c - the czctl executable: hides the password flags' values from
 * /proc/<pid>/cmdline, then hands argv to the command dispatcher.
 */
#include "cli.h"

int main(int argc, char **argv)
{
	czpg_cli_hide_secrets(argc, argv);
	return czpg_cli_main(argc, argv);
}
