"""The elicit service and its command line."""

import os

# numpy asks the kernel for transparent huge pages for every large array (madvise).
# Where the kernel then compacts memory at each page fault to find one (transparent_
# hugepage/defrag set to "madvise", as on many virtual machines), a freshly allocated
# array costs far more than the arithmetic done on it: the leave-one-out medians of 2 M
# ratings took 3.4 s with it and 0.5 s without, `elicit analyze` on 300,000 ratings about
# a quarter less. The platform's own processes (the command line, the service's workers
# and the analysis processes they start, which inherit the environment) turn it off
# unless the environment already says; numpy reads the variable when first imported, so
# it is set here, before anything imports numpy. The analysis package, imported on its
# own, leaves the researcher's process as it is.
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
