/* The stevedore command. */
#include <stdio.h>

int main(void) {
  fprintf(stderr, "stevedore: not built yet\n");
  return 2;
}
