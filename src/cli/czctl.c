/*
 * czctl.c - the czctl executable: hands argv to the command dispatcher.
 */
#include "cli.h"

int main(int argc, char **argv)
{
	return czpg_cli_main(argc, argv);
}
