// hepinfer ap_types_lite: ap_int is declared in ap_fixed.h
#include "ap_fixed.h"
