"""Request and response bodies, one module per resource (``XCreate``, ``XPublic``, ``XsPublic``)."""
